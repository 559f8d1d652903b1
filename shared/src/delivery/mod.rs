//! Delivery, by concern:
//!
//! - [`payload`]: the Standard Webhooks body;
//! - [`template`]: the sandboxed Jinja engine; [`format`]: the built-in formats;
//!   [`sandbox`]: the child process users' templates render in;
//! - [`render`]: what an attempt sends (body, Content-Type, header values);
//! - [`signing`]: the secret, the signature, the signed request, masking;
//! - [`send`]: the HTTP client and one request;
//! - [`destination`]: where requests may go (SSRF);
//! - [`outcome`]: the words they share: an attempt's request and answer as recorded, its
//!   outcome class, and the delivery's state;
//! - [`pace`]: a webhook's rate limit, the send times it grants, a receiver's pauses;
//! - [`retry`]: the schedule, `Retry-After`, the state an attempt leaves;
//! - [`attempt`]: one attempt, the same for the worker and the test route;
//! - [`record`]: delivery and attempt records;
//! - [`order`]: an alert's transitions reach each webhook in order;
//! - [`message`]: what the queue carries (attempts, alert timers, recovery pages);
//! - [`queue`]: the delivery queue that sends them;
//! - [`admission`]: which of a batch go now, given their webhooks' pauses and limits;
//! - [`digest`]: a limited webhook's long queue sent as one `alert.digest`;
//! - [`worker`]: the deliver function's batch: claim, attempt, record, follow up;
//! - [`redeliver`]: another attempt at a finished delivery; [`recovery`]: all the failed
//!   ones of a window, page by page;
//! - [`notice`]: operational events (`webhook.disabled`, `delivery.exhausted`,
//!   `webhook.recovered`).

pub mod admission;
pub mod attempt;
pub mod destination;
pub mod digest;
pub mod format;
pub mod message;
pub mod notice;
pub mod order;
pub mod outcome;
pub mod pace;
pub mod payload;
pub mod queue;
pub mod record;
pub mod recovery;
pub mod redeliver;
pub mod render;
pub mod retry;
pub mod sandbox;
pub mod send;
pub mod signing;
pub mod template;
pub mod url_template;
pub mod worker;
