//! The sandboxed Jinja engine (minijinja) that body and header templates, and the
//! built-in formats, render with. It knows nothing of webhooks: [`super::render`] builds
//! the context and decides what the output becomes.
//!
//! The sandbox:
//! - no loader, so `include`, `import` and `extends` find nothing: no file or network access;
//! - fuel ([`FUEL`]) pays for every instruction and every byte made, so every loop ends and
//!   no value grows without bound; minijinja checks what an operator or a built-in filter
//!   is about to allocate against the fuel left before it allocates, and so do our own
//!   filters ([`bytes_left`]), so no single step can allocate past the budget either;
//! - at most [`OUTPUT_MAX_BYTES`] of output, and [`RECURSION_LIMIT`] levels of calls;
//! - strict undefined values: a misspelt field is an error, not an empty string.
//!
//! A URL template ([`Syntax::Url`]) renders with the same sandbox, but every value it
//! writes is percent-encoded: an alert's text cannot add a path segment, a query or a
//! fragment to the URL; only the template's own text can.

use std::{io::Write, sync::OnceLock};

use chrono::{DateTime, Utc};
use minijinja::{
    machinery::{get_compiled_template, Instruction},
    value::Kwargs,
    Environment, Error, ErrorKind, State, UndefinedBehavior, Value,
};

/// The largest template a webhook may hold, in bytes.
pub const TEMPLATE_MAX_BYTES: usize = 64 * 1024;
/// The most a render may write.
pub const OUTPUT_MAX_BYTES: usize = 256 * 1024;
/// One fuel is one instruction or 64 bytes of data made; the built-in formats use under
/// 3,000 on a typical alert (BENCHMARKS.md), a 64 KiB `data` through `tojson` about 20,000.
pub const FUEL: u64 = 200_000;
pub const RECURSION_LIMIT: usize = 64;
/// The longest pattern `regex_replace` takes, and the most its compiled form may use.
const REGEX_MAX_CHARS: usize = 1024;
/// The longest format `date` takes: a specifier writes at most about 40 bytes.
const DATE_FORMAT_MAX_CHARS: usize = 256;
/// Bytes of data one fuel pays for (minijinja's own rate).
const BYTES_PER_FUEL: u64 = 64;
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Why a template cannot be saved or rendered: a message as the delivery record and the
/// API show it, and where in the template, when known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message}{}", at(*.line, *.column))]
pub struct TemplateError {
    pub message: String,
    /// The kind of fault alone (`undefined value`, `syntax error`...), without details
    /// that could quote the template: what a header's error shows, as its value is secret.
    pub kind: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

impl TemplateError {
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            kind: message.clone(),
            message,
            line: None,
            column: None,
        }
    }

    fn from_engine(err: &Error, source: &str) -> Self {
        let message = match err.kind() {
            ErrorKind::OutOfFuel => {
                format!("the template ran out of fuel ({FUEL}): it does too much work")
            }
            ErrorKind::WriteFailure => {
                format!("the output is larger than {} KiB", OUTPUT_MAX_BYTES / 1024)
            }
            _ => match err.detail() {
                Some(detail) => format!("{}: {detail}", err.kind()),
                None => err.kind().to_string(),
            },
        };
        let (line, column) = match err.range() {
            Some(range) => position(source, range.start),
            None => (err.line(), None),
        };
        let kind = match err.kind() {
            ErrorKind::OutOfFuel | ErrorKind::WriteFailure => message.clone(),
            other => other.to_string(),
        };
        Self {
            message,
            kind,
            line,
            column,
        }
    }

    /// The error without its details (see [`TemplateError::kind`]).
    pub fn brief(&self) -> Self {
        Self {
            message: self.kind.clone(),
            ..self.clone()
        }
    }
}

/// Line and column (both from 1, the column in characters) of byte `offset`.
fn position(source: &str, offset: usize) -> (Option<usize>, Option<usize>) {
    let Some(before) = source.get(..offset) else {
        return (None, None);
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (Some(line), Some(column))
}

/// What a template makes, and so how the values it writes are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Syntax {
    /// A body or a header value: values as they are.
    #[default]
    Text,
    /// A URL's path and query: values percent-encoded.
    Url,
}

/// Every byte but RFC 3986's unreserved characters: an encoded value is one path segment
/// or one query value, whatever it holds.
const URL_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as a URL template writes it.
pub fn url_value(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, URL_VALUE).to_string()
}

/// The environment for `syntax`, built on first use: its settings and filters never change.
fn engine(syntax: Syntax) -> &'static Environment<'static> {
    static TEXT: OnceLock<Environment<'static>> = OnceLock::new();
    static URL: OnceLock<Environment<'static>> = OnceLock::new();
    match syntax {
        Syntax::Text => TEXT.get_or_init(|| environment(Syntax::Text)),
        Syntax::Url => URL.get_or_init(|| environment(Syntax::Url)),
    }
}

fn environment(syntax: Syntax) -> Environment<'static> {
    {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_debug(true);
        // Bodies are JSON or text, not HTML: values go out as they are (`tojson` quotes).
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("truncate", truncate);
        env.add_filter("date", date);
        env.add_filter("datetimeformat", date);
        env.add_filter("regex_replace", regex_replace);
        env.add_function("fail", fail);
        if syntax == Syntax::Url {
            env.set_formatter(|out, _state, value| {
                let text = value.to_string();
                // An empty segment would name another resource (`/incidents//ack`).
                if text.is_empty() {
                    return Err(invalid("a value in the URL renders empty".into()));
                }
                (out.write_str(&url_value(&text))).map_err(|_| Error::from(ErrorKind::WriteFailure))
            });
        }
        env
    }
}

/// Checks a template before it is saved: its syntax, and that every filter and test it
/// names exists (minijinja itself only finds out when one runs).
pub fn check(source: &str) -> Result<(), TemplateError> {
    if source.len() > TEMPLATE_MAX_BYTES {
        return Err(TemplateError::new(format!(
            "must be at most {} KiB",
            TEMPLATE_MAX_BYTES / 1024
        )));
    }
    let env = engine(Syntax::Text);
    let template = env
        .template_from_str(source)
        .map_err(|e| TemplateError::from_engine(&e, source))?;
    let compiled = get_compiled_template(&template);
    let every = std::iter::once(&compiled.instructions).chain(compiled.blocks.values());
    for instructions in every {
        let mut idx = 0;
        while let Some(instruction) = instructions.get(idx) {
            let unknown = match instruction {
                Instruction::ApplyFilter(name, ..) if !known(env, "{{ none|", name, " }}") => {
                    Some(format!("unknown filter: filter {name} is unknown"))
                }
                Instruction::PerformTest(name, ..) if !known(env, "{{ none is ", name, " }}") => {
                    Some(format!("unknown test: test {name} is unknown"))
                }
                _ => None,
            };
            if let Some(message) = unknown {
                let (line, column) = match instructions.get_span(idx) {
                    Some(span) => (
                        Some(usize::from(span.start_line)),
                        Some(usize::from(span.start_col) + 1),
                    ),
                    None => (instructions.get_line(idx), None),
                };
                return Err(TemplateError {
                    kind: message.clone(),
                    message,
                    line,
                    column,
                });
            }
            idx += 1;
        }
    }
    Ok(())
}

/// The longest expression a `condition` may be.
pub const EXPRESSION_MAX_BYTES: usize = 4 * 1024;

/// `{{ expr }}` as OnCall writes it is `expr`: the braces become spaces, so that lines
/// and columns stay where the user wrote them.
fn bare_expression(expr: &str) -> String {
    let trimmed = expr.trim();
    let (Some(start), Some(end)) = (expr.find("{{"), expr.rfind("}}")) else {
        return expr.to_string();
    };
    if !(trimmed.starts_with("{{") && trimmed.ends_with("}}")) || end < start + 2 {
        return expr.to_string();
    }
    let mut bare = expr.to_string();
    bare.replace_range(end..end + 2, "  ");
    bare.replace_range(start..start + 2, "  ");
    bare
}

/// An expression as a template that renders `true` when the expression is truthy and
/// nothing otherwise, so that it runs in the sandbox as any template does. It starts on
/// the template's second line: [`expression_outcome`] puts errors back on the user's.
pub fn expression_template(expr: &str) -> String {
    format!(
        "{{% if (\n{}\n) %}}true{{% endif %}}",
        bare_expression(expr)
    )
}

/// Whether the expression was truthy, from its template's render.
pub fn expression_outcome(rendered: Result<String, TemplateError>) -> Result<bool, TemplateError> {
    rendered.map(|out| out == "true").map_err(|mut e| {
        e.line = e.line.and_then(|l| l.checked_sub(1)).filter(|l| *l > 0);
        e
    })
}

/// Checks an expression before it is saved: one expression (not a template), its syntax,
/// and every filter and test it names.
pub fn check_expression(expr: &str) -> Result<(), TemplateError> {
    if expr.len() > EXPRESSION_MAX_BYTES {
        return Err(TemplateError::new(format!(
            "must be at most {} KiB",
            EXPRESSION_MAX_BYTES / 1024
        )));
    }
    let bare = bare_expression(expr);
    if bare.trim().is_empty() {
        return Err(TemplateError::new("must not be empty"));
    }
    (engine(Syntax::Text).compile_expression(&bare))
        .map_err(|e| TemplateError::from_engine(&e, &bare))?;
    expression_outcome(check(&expression_template(expr)).map(|()| String::new())).map(|_| ())
}

/// Whether the engine has the filter or test `name`: using it on `none` fails with some
/// other error, or none, when it does.
fn known(env: &Environment<'static>, before: &str, name: &str, after: &str) -> bool {
    let probe = format!("{before}{name}{after}");
    match env.render_str(&probe, ()) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::UnknownFilter | ErrorKind::UnknownTest),
    }
}

/// Renders `source` over `context` within the sandbox's limits.
pub fn render(source: &str, context: &Value, syntax: Syntax) -> Result<String, TemplateError> {
    let template = engine(syntax)
        .template_from_str(source)
        .map_err(|e| TemplateError::from_engine(&e, source))?;
    let mut out = Capped(Vec::with_capacity(source.len() + 256));
    template
        .render_captured_to(context, &mut out)
        .map_err(|e| TemplateError::from_engine(&e, source))?;
    // Every piece written came from a `str`.
    String::from_utf8(out.0).map_err(|_| TemplateError::new("the output is not UTF-8"))
}

/// A writer that refuses to grow past [`OUTPUT_MAX_BYTES`].
struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > OUTPUT_MAX_BYTES {
            return Err(std::io::Error::other("output too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `truncate(length=255, end="...")`: at most `length` characters, `end` included; both
/// may be given by name, as in Jinja.
fn truncate(value: String, length: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let length = match length {
        Some(n) => n,
        None => kwargs.get::<Option<usize>>("length")?.unwrap_or(255),
    };
    let end = kwargs
        .get::<Option<String>>("end")?
        .unwrap_or_else(|| "...".into());
    kwargs.assert_all_used()?;
    if value.chars().count() <= length {
        return Ok(value);
    }
    let keep = length.saturating_sub(end.chars().count());
    Ok(value
        .chars()
        .take(keep)
        .chain(end.chars())
        .take(length)
        .collect())
}

/// `date(format="%Y-%m-%dT%H:%M:%SZ")`: an RFC 3339 time or Unix seconds, in UTC, with
/// chrono's strftime specifiers.
fn date(value: Value, format: Option<String>) -> Result<String, Error> {
    if format
        .as_ref()
        .is_some_and(|f| f.chars().count() > DATE_FORMAT_MAX_CHARS)
    {
        return Err(invalid(format!(
            "date: the format is longer than {DATE_FORMAT_MAX_CHARS} characters"
        )));
    }
    use chrono::format::{Item, StrftimeItems};
    let time: DateTime<Utc> = if let Some(text) = value.as_str() {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| invalid(format!("date: {text:?} is not an RFC 3339 time ({e})")))?
    } else if let Some(seconds) = value.as_i64() {
        DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| invalid(format!("date: {seconds} is out of range")))?
    } else {
        return Err(invalid(format!(
            "date: takes a time as text or Unix seconds, not {}",
            value.kind()
        )));
    };
    let format = format.unwrap_or_else(|| "%Y-%m-%dT%H:%M:%SZ".into());
    // chrono panics when it formats a bad specifier: refuse it first.
    let items: Vec<Item> = StrftimeItems::new(&format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(invalid(format!("date: {format:?} is not a valid format")));
    }
    Ok(time.format_with_items(items.into_iter()).to_string())
}

/// How many bytes the fuel left can still pay for: a filter that would make more refuses
/// before it allocates, as minijinja's own do.
fn bytes_left(state: &State) -> u64 {
    state
        .fuel_levels()
        .map_or(u64::MAX, |(_, left)| left.saturating_mul(BYTES_PER_FUEL))
}

fn out_of_fuel(what: &str) -> Error {
    Error::new(
        ErrorKind::OutOfFuel,
        format!("{what} would make more than the fuel left pays for"),
    )
}

/// `regex_replace(pattern, replacement)`: every match replaced; `$1` names a group. Built
/// one match at a time, each checked against the fuel before it is written: a pattern
/// that matches everywhere (`""`) with a long replacement would otherwise make gigabytes
/// before any limit saw them.
fn regex_replace(
    state: &State,
    value: String,
    pattern: String,
    replacement: String,
) -> Result<String, Error> {
    let regex = compile_regex(&pattern).map_err(|e| invalid(format!("regex_replace: {e}")))?;
    let budget = bytes_left(state);
    // The most one replacement can write: its own text, and the whole value for each `$`.
    let references = replacement.matches('$').count() as u64;
    let per_match =
        (replacement.len() as u64).saturating_add(references.saturating_mul(value.len() as u64));
    let mut out = String::new();
    let mut last = 0;
    for caps in regex.captures_iter(&value) {
        let whole = caps.get(0).expect("group 0 is the whole match");
        let grown = (out.len() + whole.start() - last) as u64 + per_match;
        if grown > budget {
            return Err(out_of_fuel("regex_replace"));
        }
        state.consume_fuel(1)?;
        out.push_str(&value[last..whole.start()]);
        caps.expand(&replacement, &mut out);
        last = whole.end();
    }
    out.push_str(&value[last..]);
    Ok(out)
}

/// A pattern compiled within the size limit: the `regex` crate runs in linear time, so a
/// pattern can cost memory, which the limit bounds, but not time.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.chars().count() > REGEX_MAX_CHARS {
        return Err(format!(
            "the pattern is longer than {REGEX_MAX_CHARS} characters"
        ));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "the pattern is too large once compiled".into(),
            other => format!("not a valid regular expression: {other}"),
        })
}

/// `fail(message)`: stops the render with `message`, for a value a template cannot do
/// without.
fn fail(message: String) -> Result<Value, Error> {
    Err(invalid(message))
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, context: &Value) -> Result<String, TemplateError> {
        super::render(source, context, Syntax::Text)
    }

    fn ctx() -> Value {
        Value::from(minijinja::value::Serde(serde_json::json!({
            "alert": {"message": "disk \"full\"", "at": "2026-11-23T10:00:00Z", "labels": {}},
            "n": 3
        })))
    }

    #[test]
    fn renders_with_the_filters_users_expect() {
        let out = render(
            r#"{"m": {{ alert.message|tojson }}, "d": {{ alert.at|date("%d/%m %H:%M")|tojson }}, "x": "{{ alert.missing|default("none") }}", "t": "{{ "abcdefghij"|truncate(6) }}", "r": "{{ "a-b-c"|regex_replace("-+", "_") }}"}"#,
            &ctx(),
        )
        .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["m"], "disk \"full\"");
        assert_eq!(parsed["d"], "23/11 10:00");
        assert_eq!(parsed["x"], "none");
        assert_eq!(parsed["t"], "abc...");
        assert_eq!(parsed["r"], "a_b_c");
        assert_eq!(
            render("{{ 0|date }}", &ctx()).unwrap(),
            "1970-01-01T00:00:00Z"
        );
    }

    /// A URL template's values are one segment or one query value each, whatever they
    /// hold; its own text is written as it is.
    #[test]
    fn url_values_are_percent_encoded() {
        let context = Value::from(minijinja::value::Serde(serde_json::json!({
            "v": "../a/b?c=d#e@f%2F\r\né ~-._", "n": 42
        })));
        let url = |source| super::render(source, &context, Syntax::Url).unwrap();
        assert_eq!(
            url("/x/{{ v }}?q={{ v|upper }}&n={{ n }}"),
            "/x/..%2Fa%2Fb%3Fc%3Dd%23e%40f%252F%0D%0A%C3%A9%20~-._?q=..%2FA%2FB%3FC%3DD%23E%40F%252F%0D%0A%C3%89%20~-._&n=42"
        );
        // `safe` is no way out, and a block's own text is the template's.
        assert_eq!(url("{{ '/'|safe }}{% if n %}/y?{% endif %}"), "%2F/y?");
        let err = super::render("/i/{{ v[:0] }}/ack", &context, Syntax::Url).unwrap_err();
        assert!(err.message.contains("renders empty"), "{err}");
    }

    /// OnCall's `trigger_template`: an expression, bare or in `{{ }}`, truthy to fire.
    #[test]
    fn expressions_are_checked_and_judged_where_the_user_wrote_them() {
        let context = Value::from(minijinja::value::Serde(serde_json::json!({
            "alert": {"severity": "critical", "labels": {"team": "db"}}
        })));
        let judge = |expr: &str| {
            check_expression(expr)?;
            expression_outcome(render(&expression_template(expr), &context))
        };
        assert_eq!(judge(r#"alert.severity == "critical""#), Ok(true));
        assert_eq!(judge(r#"{{ alert.labels.team == "web" }}"#), Ok(false));
        assert_eq!(
            judge("alert.labels.team in ['db', 'ops'] and alert.severity != 'info'"),
            Ok(true)
        );
        assert_eq!(judge("alert.labels"), Ok(true));
        assert_eq!(judge("alert.labels.missing is defined"), Ok(false));
        let err = judge("alert.labels.team|shout").unwrap_err();
        assert_eq!((err.line, err.column), (Some(1), Some(19)), "{err}");
        let err = judge("alert.severity ==\n  == 'x'").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err = judge("alert.nope.deeper").unwrap_err();
        assert!(err.message.contains("undefined"), "{err}");
        assert_eq!(err.line, Some(1), "{err}");
        // One expression: not a template, nothing after it.
        assert!(check_expression("x %}{% for i in range(9) %}").is_err());
        assert!(check_expression("a b").is_err());
        assert!(check_expression("  ").is_err());
        assert!(check_expression("{{ }}").is_err());
        assert!(check_expression(&"1 or ".repeat(1000)).is_err());
    }

    #[test]
    fn syntax_errors_and_unknown_filters_name_the_line_and_column() {
        let err = check("{\n  \"a\": {{ alert.message }\n}").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err = check("line one\n  {{ alert.message|shout }}").unwrap_err();
        assert_eq!((err.line, err.column), (Some(2), Some(20)), "{err}");
        assert!(err.message.contains("shout"), "{err}");
        assert!(err.to_string().ends_with("(line 2, column 20)"), "{err}");
        let err = check("{% if n is prime %}x{% endif %}").unwrap_err();
        assert!(err.message.contains("prime"), "{err}");
        // A filter in a branch never taken is still checked.
        assert!(check("{% if false %}{{ 1|nope }}{% endif %}").is_err());
        check("{{ alert.message|upper|truncate(5)|tojson }}{% if n is even %}{% endif %}").unwrap();
        assert!(check(&"x".repeat(TEMPLATE_MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn strict_undefined_fuel_and_output_limits() {
        let err = render("{{ alert.nope.deeper }}", &ctx()).unwrap_err();
        assert!(err.message.contains("undefined"), "{err}");
        assert_eq!(err.line, Some(1));
        let err = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            &ctx(),
        )
        .unwrap_err();
        assert!(err.message.contains("fuel"), "{err}");
        let err = render("{{ 'x' * 300000 }}", &ctx()).unwrap_err();
        assert!(
            err.message.contains("larger than 256 KiB") || err.message.contains("fuel"),
            "{err}"
        );
        let err = render(
            "{% for i in range(3000) %}{{ 'y' * 100 }}{% endfor %}",
            &ctx(),
        )
        .unwrap_err();
        assert!(err.message.contains("larger than 256 KiB"), "{err}");
        // No loader: nothing outside the template can be read.
        assert!(render("{% include '/etc/passwd' %}", &ctx()).is_err());
    }

    /// Our own filters check what they would make against the fuel left before they
    /// make it: the audit's 400 MB `regex_replace` stops at once.
    #[test]
    fn amplifying_filters_stop_before_they_allocate() {
        for source in [
            r#"{{ ("a" * 20000)|regex_replace("", "b" * 20000) }}"#,
            r#"{{ ("a" * 60000)|regex_replace("a", "$0$0$0$0$0$0$0$0" * 1000) }}"#,
        ] {
            let started = std::time::Instant::now();
            let err = render(source, &ctx()).unwrap_err();
            assert!(err.message.contains("fuel"), "{source}: {err}");
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
        }
        assert!(render(&format!("{{{{ 0|date({:?}) }}}}", "%c".repeat(200)), &ctx()).is_err());
        assert_eq!(
            render(r#"{{ "a-b"|regex_replace("(\w)", "<$1>") }}"#, &ctx()).unwrap(),
            "<a>-<b>"
        );
    }

    #[test]
    fn filters_refuse_bad_arguments_rather_than_panic() {
        for bad in [
            "{{ alert.at|date('%Q') }}",
            "{{ 'later'|date }}",
            "{{ [1]|date }}",
            "{{ 'a'|regex_replace('(', 'x') }}",
            "{{ 'a'|regex_replace('a{1000}{1000}', 'x') }}",
        ] {
            assert!(render(bad, &ctx()).is_err(), "{bad}");
        }
        assert_eq!(render("{{ 'abc'|truncate(2) }}", &ctx()).unwrap(), "..");
        assert_eq!(
            render("{{ 'héllo wörld'|truncate(8) }}", &ctx()).unwrap(),
            "héllo..."
        );
        assert_eq!(
            render("{{ 'abcdef'|truncate(length=4, end='') }}", &ctx()).unwrap(),
            "abcd"
        );
        assert!(render("{{ 'abc'|truncate(2, endd='') }}", &ctx()).is_err());
    }
}
