//! Unit tests: format-conversion #54 and #55 plus request, response and stream edge cases.
mod cases_request;
mod cases_response;
mod cases_stream;
