//! `hookline-admin`: accounts and API tokens, straight in DynamoDB.
//!
//! It uses the ordinary AWS credential chain and honours `AWS_ENDPOINT_URL_DYNAMODB` and
//! `AWS_ENDPOINT_URL_KMS`, so the same commands work against AWS and against the local
//! stack.

use std::{path::PathBuf, process::ExitCode};

use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use hookline_shared::{
    auth::{generate_token, hash_token, Scope},
    delivery::signing::generate_secret,
    error::ApiError,
    keys::Keyring,
    settings::DEFAULT_WEBHOOK_QUOTA,
    store::{Account, StoreError, TokenInfo},
    webhook::{Webhook, WebhookSettings},
    Store,
};
use serde_json::json;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The Hookline table (the stack's TableName output).
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    /// The KMS key that wraps the data key sealing credentials (the stack's DataKeyId
    /// output).
    #[arg(long, env = "DATA_KEY_ID")]
    data_key_id: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// Read and write webhooks.
    Webhook,
    /// Read only.
    WebhookReadonly,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Webhook => Scope::Webhook,
            ScopeArg::WebhookReadonly => Scope::WebhookReadonly,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Makes the data key that seals credentials at rest, with KMS, unless it exists.
    /// Creating an account does it too.
    CreateDataKey,
    /// Ends every portal session of the account (those of `portal-link` included).
    EndPortalSessions {
        #[arg(long)]
        account: String,
    },
    /// Creates an account and prints its id.
    CreateAccount {
        /// A display name.
        #[arg(long)]
        name: String,
        /// The account id; a new UUID when omitted.
        #[arg(long)]
        id: Option<String>,
        /// A webhook quota for this account, instead of the service default.
        #[arg(long)]
        webhook_quota: Option<u32>,
    },
    /// Sets an account's webhook quota.
    SetQuota {
        #[arg(long)]
        account: String,
        #[arg(long)]
        webhook_quota: u32,
    },
    /// Creates webhooks from a file of JSON lines, each the body `POST /webhooks` takes,
    /// and prints them with their signing secrets (once, as the API does). Every line is
    /// checked before anything is stored; the account's quota holds as for the API.
    /// Destinations are checked on every delivery attempt, as always.
    ImportWebhooks {
        #[arg(long)]
        account: String,
        /// The file: one webhook a line.
        #[arg(long)]
        file: PathBuf,
        /// The quota of an account that sets none: the functions' `WEBHOOK_QUOTA`.
        #[arg(long, env = "WEBHOOK_QUOTA", default_value_t = DEFAULT_WEBHOOK_QUOTA)]
        default_quota: u32,
    },
    /// Sets the escalation delay of the account's alerts that do not give their own.
    SetEscalation {
        #[arg(long)]
        account: String,
        /// Seconds (`900`) or a duration (`15m`, `1h30m`), up to 7 days.
        #[arg(long, value_parser = parse_escalate_after, conflicts_with = "clear", required_unless_present = "clear")]
        after: Option<u32>,
        /// Removes the default: such alerts do not escalate.
        #[arg(long)]
        clear: bool,
    },
    /// Creates a token and prints it once: only its hash is stored.
    CreateToken {
        #[arg(long)]
        account: String,
        #[arg(long, value_enum, default_value = "webhook")]
        scope: ScopeArg,
        /// What the token is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Lists an account's tokens (never the tokens themselves).
    ListTokens {
        #[arg(long)]
        account: String,
    },
    /// Revokes a token; it stops working at once.
    RevokeToken {
        #[arg(long)]
        account: String,
        #[arg(long)]
        token_id: String,
    },
    /// Replaces the account's action-link key: every link already sent stops working.
    RotateLinkKey {
        #[arg(long)]
        account: String,
    },
    /// Prints a one-time portal URL for the account, valid for at most an hour.
    PortalLink {
        #[arg(long)]
        account: String,
        /// The API's base URL, which the portal is under: the stack's ApiUrl output (or
        /// PUBLIC_BASE_URL); http://127.0.0.1:9000 for scripts/dev.sh.
        #[arg(long, env = "PUBLIC_BASE_URL")]
        base_url: String,
        /// A portal that can look but not change anything.
        #[arg(long)]
        read_only: bool,
        /// Seconds the link stays valid: 60 to 3600.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(60..=3600))]
        expires_in: i64,
    },
}

fn parse_escalate_after(text: &str) -> Result<u32, String> {
    hookline_shared::alert::escalate_after(text)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let aws = hookline_shared::aws::config().await;
    let mut store = Store::new(aws_sdk_dynamodb::Client::new(&aws), cli.table);
    if let Some(key) = cli.data_key_id {
        store = store.with_keys(Keyring::kms(aws_sdk_kms::Client::new(&aws), key));
    }
    match run(&store, cli.command).await {
        Ok(output) => {
            println!("{output:#}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] hookline_shared::keys::KeyError),
    #[error("{0}")]
    Input(String),
}

/// The webhooks a file of JSON lines describes, or what is wrong with it, by line.
fn read_webhooks(account: &str, file: &PathBuf) -> Result<Vec<Webhook>, AdminError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| AdminError::Input(format!("{}: {e}", file.display())))?;
    let now = Utc::now();
    let mut webhooks = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let wrong = |why: String| AdminError::Input(format!("line {}: {why}", i + 1));
        let body: serde_json::Value =
            serde_json::from_str(line).map_err(|e| wrong(e.to_string()))?;
        let settings = WebhookSettings::parse(&body).map_err(|e| match e {
            ApiError::Validation(fields) => wrong(
                (fields.iter())
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => wrong(other.to_string()),
        })?;
        webhooks.push(Webhook::new(account, settings, generate_secret(), now));
    }
    Ok(webhooks)
}

async fn run(store: &Store, command: Command) -> Result<serde_json::Value, AdminError> {
    match command {
        Command::CreateDataKey => {
            let (id, made) = store.keys().create_data_key(store).await?;
            Ok(json!({"data_key_id": id, "created": made}))
        }
        Command::EndPortalSessions { account } => {
            let now = Utc::now();
            store.end_portal_sessions(&account, now).await?;
            Ok(json!({"account_id": account, "ended_before": now}))
        }
        Command::CreateAccount {
            name,
            id,
            webhook_quota,
        } => {
            let account = Account {
                account_id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                name,
                created_at: Utc::now(),
                webhook_count: 0,
                webhook_quota,
                link_key: None,
                sessions_ended_at: None,
                escalate_after_seconds: None,
                webhooks_version: 0,
            };
            // Functions seal the account's first credentials with the data key.
            if store.get_data_key().await?.is_none() {
                store.keys().create_data_key(store).await?;
            }
            store.create_account(&account).await?;
            Ok(json!(account))
        }
        Command::SetQuota {
            account,
            webhook_quota,
        } => {
            store.set_webhook_quota(&account, webhook_quota).await?;
            Ok(json!({"account_id": account, "webhook_quota": webhook_quota}))
        }
        Command::ImportWebhooks {
            account,
            file,
            default_quota,
        } => {
            let webhooks = read_webhooks(&account, &file)?;
            store
                .import_webhooks(&account, &webhooks, default_quota)
                .await?;
            let views: Vec<_> = webhooks.iter().map(Webhook::view_with_secret).collect();
            Ok(json!({"account_id": account, "imported": views.len(), "webhooks": views}))
        }
        Command::SetEscalation { account, after, .. } => {
            store.set_escalate_after(&account, after).await?;
            Ok(json!({"account_id": account, "escalate_after_seconds": after}))
        }
        Command::CreateToken {
            account,
            scope,
            label,
        } => {
            let token = generate_token();
            let info = TokenInfo {
                token_id: uuid::Uuid::new_v4().to_string(),
                account_id: account,
                scopes: vec![scope.into()],
                label,
                created_at: Utc::now(),
            };
            store.create_token(&info, &hash_token(&token)).await?;
            Ok(
                json!({"token": token, "token_id": info.token_id, "account_id": info.account_id, "scopes": info.scopes}),
            )
        }
        Command::ListTokens { account } => Ok(json!(store.list_tokens(&account).await?)),
        Command::RevokeToken { account, token_id } => {
            store.revoke_token(&account, &token_id).await?;
            Ok(json!({"revoked": token_id}))
        }
        Command::PortalLink {
            account,
            base_url,
            read_only,
            expires_in,
        } => {
            if store.get_account(&account).await?.is_none() {
                return Err(StoreError::NoAccount.into());
            }
            let link = hookline_shared::session::PortalLink {
                account_id: account.clone(),
                scopes: hookline_shared::session::link_scopes(read_only),
                origin: hookline_shared::session::Origin::admin(),
                expires_at: (chrono::Utc::now() + chrono::Duration::seconds(expires_in))
                    .timestamp(),
            };
            let (url, expires_at) =
                hookline_shared::session::mint_link(store, &base_url, &link).await?;
            Ok(
                json!({"account_id": account, "url": url, "expires_at": expires_at, "read_only": read_only}),
            )
        }
        Command::RotateLinkKey { account } => {
            let key = store.rotate_link_key(&account).await?;
            // The id only: the secret never leaves the table.
            Ok(json!({"account_id": account, "link_key_id": key.id}))
        }
    }
}
