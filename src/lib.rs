//! livesource
