//! The settings table drives all four sources of the real binary: every
//! setting given by flag, by `REQREP_*` variable and by config file shows in
//! `--print-config`; the sources layer flags > env > file > defaults; and a
//! value out of range is refused with exit code 2 from each source alike.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use reqrep_broker::config::SETTINGS;

const BROKER: &str = env!("CARGO_BIN_EXE_reqrep-broker");
/// `--print-config` exits at once; this only bounds a hung process.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// A value for every setting that differs from its default: (file key, as a
/// flag or variable, as a TOML value, as `--print-config` prints it).
const SAMPLES: &[(&str, &str, &str)] = &[
    (
        "frontend",
        "tcp://127.0.0.1:7001,ipc:///tmp/reqrep-sample.sock",
        "[\"tcp://127.0.0.1:7001\", \"ipc:///tmp/reqrep-sample.sock\"]",
    ),
    (
        "backend",
        "tcp://127.0.0.1:7002",
        "[\"tcp://127.0.0.1:7002\"]",
    ),
    ("metrics_addr", "off", "\"off\""),
    ("heartbeat_ms", "250", "250"),
    ("liveness", "7", "7"),
    ("default_timeout_ms", "1500", "1500"),
    ("max_queue", "12", "12"),
    ("max_attempts", "2", "2"),
    ("reply_cache_size", "0", "0"),
    ("reply_cache_ttl_ms", "1", "1"),
    ("drain_timeout_ms", "0", "0"),
    ("max_payload_frames", "3", "3"),
    ("max_payload_bytes", "4096", "4096"),
    ("max_services", "9", "9"),
    ("log_format", "json", "\"json\""),
    (
        "curve_secret_key_file",
        "/etc/reqrep/broker.key",
        "\"/etc/reqrep/broker.key\"",
    ),
    (
        "access_file",
        "/etc/reqrep/access.toml",
        "\"/etc/reqrep/access.toml\"",
    ),
];

/// Settings that are valid only with another one set, and that one (file
/// key, value): an access file needs a CURVE key.
const NEEDS: &[(&str, (&str, &str))] = &[(
    "access_file",
    ("curve_secret_key_file", "/etc/reqrep/broker.key"),
)];

/// What `key` needs set alongside it, if anything.
fn needs(key: &str) -> Option<(&'static str, &'static str)> {
    NEEDS.iter().find(|(k, _)| *k == key).map(|(_, need)| *need)
}

/// Runs the binary with `args` and only the `env` given, and waits (bounded).
fn broker(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BROKER);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("start reqrep-broker");
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match output.recv_timeout(RUN_TIMEOUT) {
        Ok(output) => output.expect("wait for reqrep-broker"),
        Err(_) => panic!("reqrep-broker {args:?} did not exit"),
    }
}

fn printed(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// The value `--print-config` shows for `key`.
fn value_of<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key} = ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

/// A config file in a fresh directory of its own.
struct ConfigFile {
    dir: PathBuf,
    path: PathBuf,
}

impl ConfigFile {
    fn new(name: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "reqrep-config-sources-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        let path = dir.join("broker.toml");
        std::fs::write(&path, text).expect("write the config file");
        Self { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("UTF-8 temp path")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sample(key: &str) -> (&'static str, &'static str) {
    let (_, arg, toml) = SAMPLES
        .iter()
        .find(|(k, _, _)| *k == key)
        .unwrap_or_else(|| panic!("no sample for {key}"));
    (arg, toml)
}

#[test]
fn every_setting_is_read_from_its_flag_its_variable_and_its_file_key() {
    assert_eq!(SAMPLES.len(), SETTINGS.len(), "one sample per setting");
    let defaults = printed(&broker(&["--print-config"], &[]));
    for setting in SETTINGS {
        let (arg, toml) = sample(setting.key);
        if let Some(line) = defaults
            .lines()
            .find(|l| l.starts_with(&format!("{} = ", setting.key)))
        {
            assert_ne!(
                line,
                format!("{} = {toml}", setting.key),
                "sample is the default"
            );
        }

        // A companion setting goes in by flag: the lowest-precedence
        // source it could clash with is none of them.
        let companion = needs(setting.key).map(|(key, value)| {
            let flag = SETTINGS
                .iter()
                .find(|s| s.key == key)
                .expect("setting")
                .flag;
            (format!("--{flag}"), value)
        });
        let with = |mut args: Vec<String>| {
            if let Some((flag, value)) = &companion {
                args.extend([flag.clone(), (*value).to_owned()]);
            }
            args
        };
        let run_with = |args: Vec<String>, env: &[(&str, &str)]| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            printed(&broker(&args, env))
        };

        let flag = format!("--{}", setting.flag);
        let by_flag = run_with(
            with(vec!["--print-config".into(), flag.clone(), arg.into()]),
            &[],
        );
        assert_eq!(value_of(&by_flag, setting.key), toml, "{flag}");

        let by_env = run_with(with(vec!["--print-config".into()]), &[(setting.env, arg)]);
        assert_eq!(value_of(&by_env, setting.key), toml, "{}", setting.env);

        let file = ConfigFile::new(setting.key, &format!("{} = {toml}\n", setting.key));
        let by_file = run_with(
            with(vec![
                "--print-config".into(),
                "--config".into(),
                file.path().into(),
            ]),
            &[],
        );
        assert_eq!(
            value_of(&by_file, setting.key),
            toml,
            "file key {}",
            setting.key
        );
    }
}

#[test]
fn flags_beat_variables_beat_the_file_beats_the_defaults() {
    let file = ConfigFile::new(
        "precedence",
        "liveness = 5\nmax_queue = 5\nmax_attempts = 5\n",
    );
    let env = [
        ("REQREP_CONFIG", file.path()),
        ("REQREP_LIVENESS", "6"),
        ("REQREP_MAX_QUEUE", "6"),
    ];
    let text = printed(&broker(&["--print-config", "--liveness", "7"], &env));
    assert_eq!(
        value_of(&text, "liveness"),
        "7",
        "flag beats variable and file"
    );
    assert_eq!(value_of(&text, "max_queue"), "6", "variable beats file");
    assert_eq!(value_of(&text, "max_attempts"), "5", "file beats default");
    assert_eq!(value_of(&text, "max_services"), "10000", "the default");
}

#[test]
fn a_value_out_of_range_is_refused_alike_from_every_source() {
    let expected = "reqrep-broker: invalid setting liveness: 0 is out of range: \
                    accepted are 1 to 100\n";
    let file = ConfigFile::new("range", "liveness = 0\n");
    let runs = [
        broker(&["--print-config", "--liveness", "0"], &[]),
        broker(&["--print-config"], &[("REQREP_LIVENESS", "0")]),
        broker(&["--print-config", "--config", file.path()], &[]),
    ];
    for output in runs {
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&output.stderr), expected);
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_file_that_is_not_there_is_refused_naming_it() {
    let missing = Path::new(&std::env::temp_dir()).join("reqrep-config-sources-missing.toml");
    let output = broker(&["--config", missing.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("reqrep-broker: cannot read config file "),
        "{stderr}"
    );
}

#[test]
fn an_access_file_without_a_curve_key_is_refused_alike_from_every_source() {
    let expected = "reqrep-broker: invalid setting access_file: an access policy without \
                    CURVE would only pretend to be secure: set curve_secret_key_file too\n";
    let file = ConfigFile::new("access", "access_file = \"/etc/reqrep/access.toml\"\n");
    let runs = [
        broker(
            &["--print-config", "--access-file", "/etc/reqrep/access.toml"],
            &[],
        ),
        broker(
            &["--print-config"],
            &[("REQREP_ACCESS_FILE", "/etc/reqrep/access.toml")],
        ),
        broker(&["--print-config", "--config", file.path()], &[]),
    ];
    for output in runs {
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&output.stderr), expected);
    }
}
