//! Tests of the flag and file sources (features `cli` and `config-file`):
//! the settings as users give them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use reqrep_core::Limits;

use super::*;

/// The settings as the binary parses them, without its other flags.
#[derive(Debug, Parser)]
struct Flags {
    #[command(flatten)]
    settings: PartialConfig,
}

fn flags(args: &[&str]) -> PartialConfig {
    let argv = std::iter::once("reqrep-broker").chain(args.iter().copied());
    Flags::try_parse_from(argv).unwrap().settings
}

fn invalid_setting(result: Result<BrokerConfig, ConfigError>) -> (&'static str, String) {
    match result {
        Err(ConfigError::Invalid { setting, reason }) => (setting, reason),
        other => panic!("expected an invalid setting, got {other:?}"),
    }
}

#[test]
fn defaults_resolve_and_bind_loopback_only() {
    let config = BrokerConfig::resolve(PartialConfig::default(), None).unwrap();
    assert_eq!(config, BrokerConfig::default());
    assert_eq!(config.frontend, ["tcp://127.0.0.1:5555"]);
    assert_eq!(config.backend, ["tcp://127.0.0.1:5556"]);
    assert_eq!(config.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
    assert_eq!(config.heartbeat, Duration::from_secs(1));
    assert_eq!(config.liveness, 3);
    assert_eq!(config.default_timeout, Duration::from_secs(30));
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.limits(), Limits::default());
    BrokerConfig::default().validate().unwrap();
}

#[test]
fn flags_beat_file_beats_defaults() {
    let file = PartialConfig::from_toml_str(
        "heartbeat_ms = 250\nmax_queue = 7\nfrontend = [\"tcp://127.0.0.1:7000\"]\n",
    )
    .unwrap();
    let flags = flags(&["--max-queue", "9", "--log-format", "json"]);
    let config = BrokerConfig::resolve(flags, Some(file)).unwrap();
    assert_eq!(config.max_queue, 9, "flag beats file");
    assert_eq!(
        config.heartbeat,
        Duration::from_millis(250),
        "file beats default"
    );
    assert_eq!(
        config.frontend,
        ["tcp://127.0.0.1:7000"],
        "file beats default"
    );
    assert_eq!(config.log_format, LogFormat::Json, "flag beats default");
    assert_eq!(config.liveness, 3, "default when nobody sets it");
}

#[test]
fn every_setting_has_a_flag_a_reqrep_variable_and_a_documented_default() {
    let command = Flags::command();
    let defaults: toml::Table = toml::from_str(&BrokerConfig::default().to_toml()).unwrap();
    let (mut flags, mut unset) = (0, 0);
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "help" {
            continue;
        }
        flags += 1;
        let long = arg.get_long().unwrap();
        assert_eq!(long, id.replace('_', "-"));
        let env = arg.get_env().unwrap().to_str().unwrap();
        assert_eq!(env, format!("REQREP_{}", id.to_uppercase()));
        let help = arg.get_help().unwrap().to_string();
        let Some(value) = defaults.get(id) else {
            // Optional settings without a default are absent from the
            // printed defaults and say so in their help.
            assert!(help.contains("Default: none"), "--{long}: {help}");
            unset += 1;
            continue;
        };
        let default = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(list) => list[0].as_str().unwrap().to_owned(),
            other => other.to_string(),
        };
        assert!(
            help.contains(&format!("Default: {default}")),
            "--{long} help does not document its default {default}: {help}"
        );
    }
    assert_eq!(unset, 2, "curve_secret_key_file and access_file");
    assert_eq!(
        flags,
        defaults.len() + unset,
        "every key in the file has a flag"
    );
}

#[test]
fn list_flags_repeat_and_split_on_commas() {
    let parsed = flags(&[
        "--frontend",
        "tcp://127.0.0.1:1,ipc:///tmp/reqrep.sock",
        "--frontend",
        "inproc://clients",
    ]);
    assert_eq!(
        parsed.frontend.unwrap(),
        [
            "tcp://127.0.0.1:1",
            "ipc:///tmp/reqrep.sock",
            "inproc://clients"
        ]
    );
    assert_eq!(parsed.backend, None);
}

#[test]
fn metrics_addr_takes_an_address_or_off() {
    let off = flags(&["--metrics-addr", "off"]);
    let config = BrokerConfig::resolve(off, None).unwrap();
    assert_eq!(config.metrics_addr, None);

    let file = PartialConfig::from_toml_str("metrics_addr = \"0.0.0.0:9200\"").unwrap();
    let config = BrokerConfig::resolve(PartialConfig::default(), Some(file)).unwrap();
    assert_eq!(config.metrics_addr, Some("0.0.0.0:9200".parse().unwrap()));

    let err = Flags::try_parse_from(["reqrep-broker", "--metrics-addr", "nowhere"]);
    assert!(err.unwrap_err().to_string().contains("expected ip:port"));
    assert!(PartialConfig::from_toml_str("metrics_addr = \"nowhere\"").is_err());
}

#[test]
fn file_parse_errors_name_the_problem() {
    let err = PartialConfig::from_toml_str("max_queue = 5\nmax-queue = 6\n").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert!(text.contains("unknown field `max-queue`"), "{text}");

    let err = PartialConfig::from_toml_str("liveness = \"three\"").unwrap_err();
    assert!(err.to_string().contains("liveness"), "{err}");

    let err = PartialConfig::from_toml_str("log_format = \"xml\"").unwrap_err();
    assert!(err.to_string().contains("xml"), "{err}");
}

#[test]
fn file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("reqrep-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.toml");
    let err = BrokerConfig::load(PartialConfig::default(), Some(&missing)).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("missing.toml"), "{err}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "heartbeat = 5\n").unwrap();
    let err = BrokerConfig::load(PartialConfig::default(), Some(&bad)).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert!(err.to_string().contains("bad.toml"), "{err}");

    let good = dir.join("good.toml");
    std::fs::write(&good, "liveness = 5\n").unwrap();
    let config = BrokerConfig::load(flags(&["--max-queue", "3"]), Some(&good)).unwrap();
    assert_eq!((config.liveness, config.max_queue), (5, 3));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_invalid_setting_is_named_in_its_error() {
    let cases: &[(&str, &str)] = &[
        ("frontend = [\"localhost:5555\"]", "frontend"),
        ("frontend = []", "frontend"),
        ("frontend = [\"tcp://127.0.0.1\"]", "frontend"),
        ("frontend = [\"udp://127.0.0.1:1\"]", "frontend"),
        (
            "frontend = [\"tcp://127.0.0.1:1\", \"tcp://127.0.0.1:1\"]",
            "frontend",
        ),
        ("backend = [\"tcp://:5556\"]", "backend"),
        ("backend = [\"tcp://127.0.0.1:5555\"]", "backend"),
        ("heartbeat_ms = 9", "heartbeat_ms"),
        ("heartbeat_ms = 3600001", "heartbeat_ms"),
        ("liveness = 0", "liveness"),
        ("liveness = 101", "liveness"),
        ("default_timeout_ms = 0", "default_timeout_ms"),
        ("default_timeout_ms = 86400001", "default_timeout_ms"),
        ("max_queue = 0", "max_queue"),
        ("max_attempts = 0", "max_attempts"),
        ("reply_cache_ttl_ms = 86400001", "reply_cache_ttl_ms"),
        ("drain_timeout_ms = 3600001", "drain_timeout_ms"),
        ("max_payload_frames = 0", "max_payload_frames"),
        ("max_payload_bytes = 0", "max_payload_bytes"),
        ("max_services = 0", "max_services"),
    ];
    for (text, setting) in cases {
        let result = BrokerConfig::from_toml_str(text);
        let (named, reason) = invalid_setting(result);
        assert_eq!(named, *setting, "{text}: {reason}");
        let message = BrokerConfig::from_toml_str(text).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("invalid setting {setting}: ")),
            "{message}"
        );
    }
}

#[test]
fn endpoint_errors_explain_the_expected_form() {
    let err = BrokerConfig::resolve(flags(&["--frontend", "localhost:5555"]), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid setting frontend: endpoint \"localhost:5555\" has no transport: \
         expected tcp://host:port, ipc://path or inproc://name"
    );
}

#[test]
fn wildcard_ports_may_repeat() {
    let flags = flags(&[
        "--frontend",
        "tcp://127.0.0.1:*",
        "--backend",
        "tcp://127.0.0.1:*",
    ]);
    BrokerConfig::resolve(flags, None).unwrap();
}

#[test]
fn limits_at_the_edges_are_accepted() {
    let text = "heartbeat_ms = 10\nliveness = 1\ndefault_timeout_ms = 1\nmax_queue = 1\n\
                max_attempts = 1\nreply_cache_size = 0\nreply_cache_ttl_ms = 0\n\
                drain_timeout_ms = 0\nmax_payload_frames = 1\nmax_payload_bytes = 1\n\
                max_services = 1\n";
    let config = BrokerConfig::from_toml_str(text).unwrap();
    assert_eq!(config.heartbeat, Duration::from_millis(10));
    assert_eq!(config.drain_timeout, Duration::ZERO);
}

#[test]
fn print_config_round_trips() {
    let defaults = BrokerConfig::default();
    assert_eq!(
        BrokerConfig::from_toml_str(&defaults.to_toml()).unwrap(),
        defaults
    );

    let custom = BrokerConfig {
        frontend: vec![
            "tcp://*:5555".into(),
            "ipc:///run/reqrep \"front\".sock".into(),
        ],
        backend: vec!["tcp://0.0.0.0:5556".into()],
        metrics_addr: None,
        heartbeat: Duration::from_millis(250),
        liveness: 5,
        default_timeout: Duration::from_millis(1500),
        max_queue: 12,
        max_attempts: 2,
        reply_cache_size: 0,
        reply_cache_ttl: Duration::from_millis(1),
        drain_timeout: Duration::ZERO,
        max_payload_frames: 3,
        max_payload_bytes: 4096,
        max_services: 9,
        log_format: LogFormat::Json,
        curve_secret_key_file: Some(PathBuf::from("/etc/reqrep/broker \"a\".key")),
        access_file: Some(PathBuf::from("/etc/reqrep/access.toml")),
    };
    let text = custom.to_toml();
    assert!(text.contains("metrics_addr = \"off\""), "{text}");
    assert!(text.contains("curve_secret_key_file = "), "{text}");
    assert!(
        text.contains("access_file = \"/etc/reqrep/access.toml\""),
        "{text}"
    );
    assert!(
        defaults
            .to_toml()
            .contains("# curve_secret_key_file: not set")
    );
    assert!(text.contains("log_format = \"json\""), "{text}");
    assert!(text.contains("heartbeat_ms = 250"), "{text}");
    assert_eq!(BrokerConfig::from_toml_str(&text).unwrap(), custom);
}

#[test]
fn the_operations_guide_gives_every_default_as_print_config_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPERATIONS.md");
    let guide = std::fs::read_to_string(path).unwrap();
    let printed = BrokerConfig::default().to_toml();
    for setting in SETTINGS {
        let row = format!(
            "| `--{}` | `{}` | `{}` | ",
            setting.flag, setting.env, setting.key
        );
        let rest = guide
            .lines()
            .find_map(|line| line.strip_prefix(&row))
            .unwrap_or_else(|| panic!("docs/OPERATIONS.md lacks {row}"));
        let documented = rest.split(" | ").next().unwrap();
        let prefix = format!("{} = ", setting.key);
        match printed.lines().find_map(|line| line.strip_prefix(&prefix)) {
            Some(value) => assert_eq!(documented, format!("`{value}`"), "{}", setting.key),
            None => assert_eq!(documented, "none", "{}", setting.key),
        }
    }
}
