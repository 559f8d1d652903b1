//! Hookline's end-to-end tests, in one test binary.
//!
//! They need the stack that `scripts/test.sh` starts: DynamoDB Local and the functions
//! served by `cargo lambda watch`. The script passes their addresses in
//! `HOOKLINE_API_URL`, `AWS_ENDPOINT_URL_DYNAMODB` and `TABLE_NAME`.

#[cfg(test)]
mod api;
#[cfg(test)]
mod events;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod receiver;
