//! The range and form checks the settings table names, one per kind of
//! limit. Each returns what is wrong; the table adds which setting.

use std::path::PathBuf;
use std::time::Duration;

use reqrep_core::socket::Endpoint;

use super::BrokerConfig;

/// What a check reports: the reason, without the setting's name.
pub(crate) type Reason = String;

/// A duration of `min` to `max` milliseconds.
pub(crate) fn millis_in(
    min: u64,
    max: u64,
) -> impl Fn(&Duration, &BrokerConfig) -> Result<(), Reason> {
    move |value, _| {
        let ms = value.as_millis();
        if ms < u128::from(min) || ms > u128::from(max) {
            return Err(format!(
                "{ms} ms is out of range: accepted are {min} to {max} ms"
            ));
        }
        Ok(())
    }
}

/// A count of `min` to `max`.
pub(crate) fn count_in(min: u32, max: u32) -> impl Fn(&u32, &BrokerConfig) -> Result<(), Reason> {
    move |value, _| {
        if !(min..=max).contains(value) {
            return Err(format!(
                "{value} is out of range: accepted are {min} to {max}"
            ));
        }
        Ok(())
    }
}

/// A size of at least 1.
pub(crate) fn at_least_one(value: &usize, _: &BrokerConfig) -> Result<(), Reason> {
    if *value == 0 {
        return Err("0 is out of range: must be at least 1".into());
    }
    Ok(())
}

/// At least one endpoint, each valid and listed once, none of them also
/// among the endpoints `others` picks from the configuration.
pub(crate) fn endpoints_apart_from(
    others: fn(&BrokerConfig) -> &[String],
) -> impl Fn(&Vec<String>, &BrokerConfig) -> Result<(), Reason> {
    move |endpoints, config| {
        if endpoints.is_empty() {
            return Err("at least one endpoint is needed".into());
        }
        let other_side = others(config);
        let mut seen: Vec<&str> = Vec::with_capacity(endpoints.len());
        for text in endpoints {
            Endpoint::parse(text).map_err(|e| e.to_string())?;
            let text = text.trim();
            // A wildcard port binds a fresh port each time, so it may repeat.
            if text.ends_with(":*") {
                continue;
            }
            if seen.contains(&text) {
                return Err(format!("endpoint {text:?} is listed twice"));
            }
            if other_side.iter().any(|o| o.trim() == text) {
                return Err(format!("endpoint {text:?} is also a frontend endpoint"));
            }
            seen.push(text);
        }
        Ok(())
    }
}

/// No other endpoints to stay apart from.
pub(crate) fn none(_: &BrokerConfig) -> &[String] {
    &[]
}

/// An access file only together with a CURVE secret key.
pub(crate) fn needs_curve(value: &Option<PathBuf>, config: &BrokerConfig) -> Result<(), Reason> {
    if value.is_some() && config.curve_secret_key_file.is_none() {
        return Err(
            "an access policy without CURVE would only pretend to be secure: \
                    set curve_secret_key_file too"
                .into(),
        );
    }
    Ok(())
}
