//! A webhook's `condition`: Grafana OnCall's `trigger_template`, a Jinja expression over
//! the context a template sees ([`crate::delivery::render`]); the webhook fires when it
//! is truthy. It is checked at save like a template ([`template::check_expression`]) and
//! judged at fan-out, after the cheap checks and the `filter`, in the template sandbox:
//! every conditioned webhook of a transition in one job, and a condition that kills its
//! child fails alone (the rest go on in another). A condition that fails to render does
//! not drop the delivery silently: the delivery is made and fails with the condition's
//! error, recorded as a template's is, so the webhook's log shows it.
//!
//! Conditions judge alert events; a test delivery and the operational events go to the
//! webhooks that ask for them. `webhook.secrets` are masked in a condition's context:
//! they are for what is sent, not for deciding.

use serde_json::Value;

use crate::delivery::{
    render::{self, DeliveryRef},
    sandbox::{differences, Job, Piece, Sandbox, SandboxError},
    template::{self, TemplateError},
};

use super::{Webhook, MASK};

/// Whether a webhook's condition passed, or why it could not be judged.
pub type Verdict = Result<bool, TemplateError>;

/// What a condition is judged on: one webhook's payload and delivery id.
pub struct Judged<'a> {
    pub webhook: &'a Webhook,
    /// The Standard Webhooks payload the webhook would be sent.
    pub payload: Value,
    pub delivery_id: String,
}

/// The verdict on each webhook, in order: `Ok(true)` for one without a condition.
pub async fn judge(judged: &[Judged<'_>], sandbox: &Sandbox) -> Result<Vec<Verdict>, SandboxError> {
    let mut verdicts: Vec<Verdict> = vec![Ok(true); judged.len()];
    let mut job = Job::default();
    let mut asked = Vec::new();
    for (i, j) in judged.iter().enumerate() {
        let Some(condition) = &j.webhook.settings.condition else {
            continue;
        };
        let delivery = DeliveryRef {
            id: &j.delivery_id,
            attempt: 1,
        };
        let mut context = render::context(j.webhook, &j.payload, delivery);
        if let Some(Value::Object(secrets)) = context.pointer_mut("/webhook/secrets") {
            secrets.values_mut().for_each(|v| *v = MASK.into());
        }
        let sets = if asked.is_empty() {
            job.context = context;
            Vec::new()
        } else {
            differences(&job.context, &context)
        };
        job.pieces.push(Piece {
            source: template::expression_template(condition),
            sets,
            ..Piece::default()
        });
        asked.push(i);
    }
    if asked.is_empty() {
        return Ok(verdicts);
    }
    let answer = sandbox.run(&job).await?;
    for (i, rendered) in asked.into_iter().zip(answer.results) {
        verdicts[i] = template::expression_outcome(rendered);
    }
    Ok(verdicts)
}
