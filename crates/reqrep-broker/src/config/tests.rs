//! Tests of the settings table that need no feature: defaults, layering,
//! checks and the names each setting is known by.

use std::time::Duration;

use reqrep_core::Limits;

use super::*;

fn invalid(settings: PartialConfig) -> (&'static str, String) {
    match BrokerConfig::resolve(settings, None) {
        Err(ConfigError::Invalid { setting, reason }) => (setting, reason),
        other => panic!("expected an invalid setting, got {other:?}"),
    }
}

#[test]
fn defaults_are_valid_and_resolve_from_nothing() {
    BrokerConfig::default().validate().unwrap();
    let config = BrokerConfig::resolve(PartialConfig::default(), None).unwrap();
    assert_eq!(config, BrokerConfig::default());
    assert_eq!(config.heartbeat, Duration::from_secs(1));
    assert_eq!(
        config.max_payload_bytes,
        Limits::default().max_payload_bytes
    );
    assert_eq!(config.limits(), Limits::default());
    assert_eq!(config.curve_secret_key_file, None);
}

#[test]
fn each_layer_fills_only_what_the_layers_above_leave_unset() {
    let file = PartialConfig {
        drain_timeout_ms: Some(0),
        max_attempts: Some(1),
        metrics_addr: Some(MetricsAddr::Off),
        ..PartialConfig::default()
    };
    let flags = PartialConfig {
        max_attempts: Some(2),
        curve_secret_key_file: Some("broker.key".into()),
        ..PartialConfig::default()
    };
    let config = BrokerConfig::resolve(flags, Some(file)).unwrap();
    let defaults = BrokerConfig::default();
    let expected = BrokerConfig {
        max_attempts: 2,
        curve_secret_key_file: Some("broker.key".into()),
        drain_timeout: Duration::ZERO,
        metrics_addr: None,
        ..defaults
    };
    assert_eq!(config, expected);
}

#[test]
fn each_check_names_its_setting_and_the_accepted_range() {
    let cases = [
        (
            PartialConfig {
                frontend: Some(vec![]),
                ..PartialConfig::default()
            },
            "frontend",
            "at least one endpoint is needed",
        ),
        (
            PartialConfig {
                backend: Some(vec!["tcp://127.0.0.1:5555".into()]),
                ..PartialConfig::default()
            },
            "backend",
            "endpoint \"tcp://127.0.0.1:5555\" is also a frontend endpoint",
        ),
        (
            PartialConfig {
                heartbeat_ms: Some(9),
                ..PartialConfig::default()
            },
            "heartbeat_ms",
            "9 ms is out of range: accepted are 10 to 3600000 ms",
        ),
        (
            PartialConfig {
                liveness: Some(101),
                ..PartialConfig::default()
            },
            "liveness",
            "101 is out of range: accepted are 1 to 100",
        ),
        (
            PartialConfig {
                default_timeout_ms: Some(86_400_001),
                ..PartialConfig::default()
            },
            "default_timeout_ms",
            "86400001 ms is out of range: accepted are 1 to 86400000 ms",
        ),
        (
            PartialConfig {
                max_services: Some(0),
                ..PartialConfig::default()
            },
            "max_services",
            "0 is out of range: must be at least 1",
        ),
    ];
    for (settings, setting, reason) in cases {
        assert_eq!(invalid(settings), (setting, reason.to_owned()));
    }
}

#[test]
fn an_access_file_needs_a_curve_key() {
    let alone = PartialConfig {
        access_file: Some("access.toml".into()),
        ..PartialConfig::default()
    };
    let (setting, reason) = invalid(alone.clone());
    assert_eq!(setting, "access_file");
    assert_eq!(
        reason,
        "an access policy without CURVE would only pretend to be secure: \
         set curve_secret_key_file too"
    );
    let with_curve = PartialConfig {
        curve_secret_key_file: Some("broker.key".into()),
        ..alone
    };
    let config = BrokerConfig::resolve(with_curve, None).unwrap();
    assert_eq!(config.access_file, Some("access.toml".into()));
    assert_eq!(BrokerConfig::default().access_file, None);
}

#[test]
fn the_first_invalid_setting_in_table_order_is_reported() {
    let settings = PartialConfig {
        max_services: Some(0),
        liveness: Some(0),
        ..PartialConfig::default()
    };
    assert_eq!(invalid(settings).0, "liveness");
}

#[test]
fn every_setting_is_named_by_convention_and_once() {
    assert_eq!(SETTINGS.len(), 17);
    for (i, setting) in SETTINGS.iter().enumerate() {
        assert_eq!(setting.flag, setting.key.replace('_', "-"));
        assert_eq!(
            setting.env,
            format!("REQREP_{}", setting.key.to_uppercase())
        );
        assert!(!setting.help.contains("Default:"), "{}", setting.key);
        assert!(
            SETTINGS[..i].iter().all(|s| s.key != setting.key),
            "{} twice",
            setting.key
        );
    }
}

#[test]
fn the_ephemeral_loopback_config_binds_free_loopback_ports_and_serves_no_metrics() {
    let config = BrokerConfig::ephemeral_loopback();
    config.validate().unwrap();
    assert_eq!(config.frontend, ["tcp://127.0.0.1:*"]);
    assert_eq!(config.backend, ["tcp://127.0.0.1:*"]);
    assert_eq!(config.metrics_addr, None);
    let defaults = BrokerConfig::default();
    assert_eq!(
        (config.max_queue, config.heartbeat),
        (defaults.max_queue, defaults.heartbeat),
        "everything else is the default"
    );
}
