//! Hookline's end-to-end tests, in one test binary.
//!
//! They need the stack that `scripts/test.sh` starts: DynamoDB Local, the SQS emulator,
//! the functions served by `cargo lambda watch`, and the SQS-to-Lambda trigger. The script passes their addresses in
//! `HOOKLINE_API_URL`, `AWS_ENDPOINT_URL_DYNAMODB` and `TABLE_NAME`.

pub mod measure;

#[cfg(test)]
mod api;
#[cfg(test)]
mod attacks;
#[cfg(test)]
mod delivery;
#[cfg(test)]
mod engine;
#[cfg(test)]
mod events;
#[cfg(test)]
mod formats;
#[cfg(test)]
mod lifecycle;
#[cfg(test)]
mod limits;
#[cfg(test)]
mod operations;
#[cfg(test)]
mod payloads;
#[cfg(test)]
mod scale;
#[cfg(test)]
mod security;
#[cfg(test)]
mod seeds;
#[cfg(test)]
mod storms;
#[cfg(test)]
mod support;
