//! livesource-dev: a development server speaking RESTHeart's change-stream dialect over SSE.
