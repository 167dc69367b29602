//! Unit tests: parallel tool uses and a streamed thinking/text/tool-use reply (catalogue cases
//! 54 and 55) plus request, response and stream edge cases.
mod cases_request;
mod cases_response;
mod cases_stream;
