//! Update expressions: `SET`/`REMOVE` with a placeholder for every attribute name, and
//! the macro that fills an UpdateItem or a transaction's update with one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{n, Item};

/// Fills an update, of UpdateItem or of a transaction (two builder types with the same
/// setters), with a key, an [`Expression`] and a condition.
macro_rules! filled {
    ($builder:expr, $key:expr, $expression:expr) => {{
        let (expression, names, values) = $expression;
        $builder
            .set_key(Some($key))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
    }};
    ($builder:expr, $key:expr, $expression:expr, $condition:expr) => {{
        filled!($builder, $key, $expression).condition_expression($condition)
    }};
}
pub(super) use filled;

/// An update expression with its attribute names and values.
pub(super) type Expression = (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
);

/// Builds `SET #a = :a, ... REMOVE #b` with placeholders for every name, since many
/// attribute names (`name`, `url`) are DynamoDB reserved words.
#[derive(Default)]
pub(super) struct UpdateBuilder {
    sets: Vec<String>,
    removes: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl UpdateBuilder {
    pub(super) fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names
            .insert(placeholder.clone(), attribute.to_string());
        placeholder
    }

    pub(super) fn set(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let placeholder = format!(":{attribute}");
        self.sets.push(format!("{name} = {placeholder}"));
        self.values.insert(placeholder, value);
    }

    /// Sets each attribute of `item`, and removes those whose value is null.
    pub(super) fn set_or_remove(&mut self, item: Item) {
        for (attribute, value) in item {
            match value {
                AttributeValue::Null(_) => self.remove(&attribute),
                value => self.set(&attribute, value),
            }
        }
    }

    /// `attribute = if_not_exists(attribute, value)`: set only when absent.
    pub(super) fn set_if_absent(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let placeholder = format!(":{attribute}");
        self.sets
            .push(format!("{name} = if_not_exists({name}, {placeholder})"));
        self.values.insert(placeholder, value);
    }

    /// `attribute = if_not_exists(from, value)`: a copy of what `from` held before this
    /// update (update expressions read the item as it was), or `value`.
    pub(super) fn copy_or(&mut self, attribute: &str, from: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let from = self.name(from);
        let placeholder = format!(":{attribute}");
        self.sets
            .push(format!("{name} = if_not_exists({from}, {placeholder})"));
        self.values.insert(placeholder, value);
    }

    /// `attribute = if_not_exists(attribute, 0) + by`.
    pub(super) fn add(&mut self, attribute: &str, by: u32) {
        let name = self.name(attribute);
        let placeholder = format!(":{attribute}_add");
        self.sets.push(format!(
            "{name} = if_not_exists({name}, :zero) + {placeholder}"
        ));
        self.values.insert(":zero".into(), n(0));
        self.values.insert(placeholder, n(by));
    }

    pub(super) fn remove(&mut self, attribute: &str) {
        let name = self.name(attribute);
        self.removes.push(name);
    }

    pub(super) fn build(self) -> Expression {
        let mut expression = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", self.removes.join(", ")));
        }
        (expression, self.names, self.values)
    }
}
