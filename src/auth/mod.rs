//! Credentials fetched before every connect: the token (`token`), which travels in a query
//! parameter or an `Authorization` header, and the fetch transport's request headers (`headers`).

pub mod headers;
pub mod token;
