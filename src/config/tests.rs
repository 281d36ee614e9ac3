//! `Config::load`: for every key, which source wins (flag > variable > file > default), the
//! bounds applied to what it reads, and that secrets never show in `Debug`. The environment is
//! a map here; no test touches the process's.

use std::{collections::HashMap, fmt::Debug, time::Duration};

use clap::Parser;

use super::*;

/// `flags`, the variables `vars` and the file text `file`, loaded.
fn load(flags: &ServeFlags, vars: &[(&str, &str)], file: &str) -> Result<Config, String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let env = move |name: &str| vars.get(name).cloned();
    Config::load(flags, &env, &FileConfig::parse(file)?)
}

fn from_file(file: &str) -> Config {
    load(&ServeFlags::default(), &[], file).expect("valid file")
}

/// One key as every source sets it, and what `Config` holds in each case.
struct Key<T> {
    /// Its variable.
    var: &'static str,
    /// A file line setting it.
    file: &'static str,
    /// A value for the variable.
    env: &'static str,
    /// Sets the flag.
    flag: fn(&mut ServeFlags),
    get: fn(&Config) -> T,
    /// By default, from the file, from the variable over the file, from the flag over both.
    expect: [T; 4],
}

fn precedence<T: PartialEq + Debug>(key: &Key<T>) {
    let get = |flags: &ServeFlags, vars: &[(&str, &str)], file: &str| {
        (key.get)(&load(flags, vars, file).expect("valid sources"))
    };
    let none = ServeFlags::default();
    let var = [(key.var, key.env)];
    let [default, file, env, flag] = &key.expect;
    assert_eq!(&get(&none, &[], ""), default, "{}: default", key.var);
    assert_eq!(&get(&none, &[], key.file), file, "{}: file", key.var);
    assert_eq!(&get(&none, &var, ""), env, "{}: variable", key.var);
    assert_eq!(
        &get(&none, &var, key.file),
        env,
        "{}: over the file",
        key.var
    );
    let mut flags = ServeFlags::default();
    (key.flag)(&mut flags);
    assert_eq!(&get(&flags, &var, key.file), flag, "{}: flag", key.var);
}

#[test]
fn listen_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_LISTEN",
        file: "listen = \"127.0.0.1:1001\"",
        env: "127.0.0.1:1002",
        flag: |f| f.listen = "127.0.0.1:1003".parse().ok(),
        get: |c| c.listen.to_string(),
        expect: [
            "127.0.0.1:50051",
            "127.0.0.1:1001",
            "127.0.0.1:1002",
            "127.0.0.1:1003",
        ]
        .map(String::from),
    });
}

#[test]
fn database_url_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_DATABASE_URL",
        file: "database_url = \"sqlite://file.db\"",
        env: "sqlite://env.db",
        flag: |f| f.db.database_url = Some("sqlite://flag.db".into()),
        get: |c| c.database_url.expose().to_owned(),
        expect: [
            "sqlite://scopegate.db",
            "sqlite://file.db",
            "sqlite://env.db",
            "sqlite://flag.db",
        ]
        .map(String::from),
    });
}

#[test]
fn admin_key_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_ADMIN_KEY",
        file: "admin_key = \"file-key\"",
        env: "env-key",
        flag: |f| f.admin_key = Some("flag-key".into()),
        get: |c| c.admin_key.clone(),
        expect: [
            None,
            Some(AdminKeyHash::of("file-key")),
            Some(AdminKeyHash::of("env-key")),
            Some(AdminKeyHash::of("flag-key")),
        ],
    });
    let empty = load(&ServeFlags::default(), &[], "admin_key = \"\"").expect("valid");
    assert_eq!(empty.admin_key, None, "an empty key is no key");
}

#[test]
fn admin_tenant_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_ADMIN_TENANT",
        file: "admin_tenant = \"alpha\"",
        env: "beta",
        flag: |f| f.admin_tenant = Some("gamma".into()),
        get: |c| c.admin_tenant.as_ref().map(ToString::to_string),
        expect: [None, Some("alpha"), Some("beta"), Some("gamma")].map(|t| t.map(String::from)),
    });
    let err = load(
        &ServeFlags::default(),
        &[],
        "admin_tenant = \"Not A Tenant\"",
    )
    .expect_err("invalid tenant");
    assert!(err.contains("admin tenant"), "{err}");
}

#[test]
fn http_listen_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_HTTP_LISTEN",
        file: "http_listen = \"127.0.0.1:8001\"",
        env: "127.0.0.1:8002",
        flag: |f| f.http_listen = "127.0.0.1:8003".parse().ok(),
        get: |c| c.http_listen.map(|a| a.port()),
        expect: [None, Some(8001), Some(8002), Some(8003)],
    });
}

#[test]
fn metrics_listen_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_METRICS_LISTEN",
        file: "metrics_listen = \"127.0.0.1:9001\"",
        env: "127.0.0.1:9002",
        flag: |f| f.metrics_listen = "127.0.0.1:9003".parse().ok(),
        get: |c| c.metrics_listen.map(|a| a.port()),
        expect: [None, Some(9001), Some(9002), Some(9003)],
    });
}

#[test]
fn otlp_endpoint_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_OTLP_ENDPOINT",
        file: "otlp_endpoint = \"http://file:4317\"",
        env: "http://env:4317",
        flag: |f| f.otlp_endpoint = Some("http://flag:4317".into()),
        get: |c| c.otlp_endpoint.clone(),
        expect: [
            None,
            Some("http://file:4317"),
            Some("http://env:4317"),
            Some("http://flag:4317"),
        ]
        .map(|e| e.map(String::from)),
    });
}

#[test]
fn log_json_precedence() {
    // The variable can turn off what the file turned on; a given flag turns it on.
    precedence(&Key {
        var: "SCOPEGATE_LOG_JSON",
        file: "log_json = true",
        env: "false",
        flag: |f| f.log_json = true,
        get: |c| c.log_json,
        expect: [false, true, false, true],
    });
}

#[test]
fn shutdown_grace_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_SHUTDOWN_GRACE_SECONDS",
        file: "shutdown_grace_seconds = 1",
        env: "2",
        flag: |f| f.shutdown_grace_seconds = Some(0),
        get: |c| c.shutdown_grace,
        expect: [10, 1, 2, 0].map(Duration::from_secs),
    });
}

#[test]
fn max_connections_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_MAX_CONNECTIONS",
        file: "max_connections = 100",
        env: "200",
        // At least 1 from every source: a zero bound would refuse everything.
        flag: |f| f.max_connections = Some(0),
        get: |c| c.limits.max_connections,
        expect: [10_000, 100, 200, 1],
    });
}

#[test]
fn max_in_flight_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_MAX_IN_FLIGHT",
        file: "max_in_flight = 0",
        env: "20",
        flag: |f| f.max_in_flight = Some(30),
        get: |c| c.limits.max_in_flight,
        expect: [4_096, 1, 20, 30],
    });
}

#[test]
fn jwks_allow_private_networks_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_JWKS_ALLOW_PRIVATE_NETWORKS",
        file: "jwks_allow_private_networks = true",
        env: "0",
        flag: |f| f.jwks_allow_private_networks = true,
        get: |c| c.jwks.networks.allow_private,
        expect: [false, true, false, true],
    });
}

#[test]
fn jwks_allow_plain_http_precedence() {
    precedence(&Key {
        var: "SCOPEGATE_JWKS_ALLOW_PLAIN_HTTP",
        file: "jwks_allow_plain_http = true",
        env: "off",
        flag: |f| f.jwks_allow_plain_http = true,
        get: |c| c.jwks.allow_plain_http,
        expect: [false, true, false, true],
    });
}

#[test]
fn a_bad_variable_is_named_and_a_flag_wins_over_it() {
    let bad = [("SCOPEGATE_LISTEN", "nowhere")];
    let err = load(&ServeFlags::default(), &bad, "").expect_err("not an address");
    assert!(err.contains("SCOPEGATE_LISTEN"), "{err}");
    let flags = ServeFlags {
        listen: "127.0.0.1:7".parse().ok(),
        ..ServeFlags::default()
    };
    assert_eq!(load(&flags, &bad, "").expect("flag wins").listen.port(), 7);

    let err = load(
        &ServeFlags::default(),
        &[("SCOPEGATE_LOG_JSON", "maybe")],
        "",
    )
    .expect_err("not a switch");
    assert!(err.contains("SCOPEGATE_LOG_JSON"), "{err}");
    let err = load(&ServeFlags::default(), &[], "metrics_listen = \"x\"").expect_err("file");
    assert!(err.contains("metrics_listen"), "{err}");
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let vars = [("SCOPEGATE_LISTEN", ""), ("SCOPEGATE_ADMIN_KEY", "")];
    let config = load(&ServeFlags::default(), &vars, "listen = \"127.0.0.1:5\"").expect("ok");
    assert_eq!(config.listen.port(), 5);
    assert_eq!(config.admin_key, None);
}

#[test]
fn the_command_line_is_parsed_without_reading_the_environment() {
    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        flags: ServeFlags,
    }
    let parsed = Command::try_parse_from([
        "serve",
        "--listen",
        "127.0.0.1:8",
        "--admin-key",
        "k",
        "--database-url",
        "sqlite://x.db",
        "--jwks-allow-plain-http",
    ])
    .expect("valid flags");
    let config = load(&parsed.flags, &[], "").expect("valid");
    assert_eq!(config.listen.port(), 8);
    assert_eq!(config.admin_key, Some(AdminKeyHash::of("k")));
    assert_eq!(config.database_url.expose(), "sqlite://x.db");
    assert!(config.jwks.allow_plain_http && !config.jwks.networks.allow_private);
}

#[test]
fn secrets_never_show_in_debug_output() {
    let flags = ServeFlags {
        admin_key: Some("flag-admin-secret".into()),
        db: DbFlags {
            database_url: Some("postgres://u:flag-db-secret@h/db".into()),
            config: None,
        },
        ..ServeFlags::default()
    };
    let file = FileConfig::parse(
        "admin_key = \"file-admin-secret\"\n\
         database_url = \"postgres://u:file-db-secret@h/db?password=query-secret\"\n",
    )
    .expect("valid file");
    let env = |_: &str| None;
    let config = Config::load(&flags, &env, &file).expect("valid");
    let from_file = Config::load(&ServeFlags::default(), &env, &file).expect("valid");
    let shown = format!("{flags:?} {file:?} {config:?} {from_file:?}");
    for secret in [
        "flag-admin-secret",
        "flag-db-secret",
        "file-admin-secret",
        "file-db-secret",
        "query-secret",
    ] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(
        format!("{config:?}").contains("postgres://u:<redacted>@h/db"),
        "the rest of the URL stays readable: {config:?}"
    );
}

#[test]
fn a_database_url_is_redacted_to_its_user_host_and_path() {
    let redacted = |url: &str| DatabaseUrl::new(url).redacted();
    assert_eq!(
        redacted("postgres://app:pw@db:5432/scopegate?sslmode=require"),
        "postgres://app:<redacted>@db:5432/scopegate?<redacted>"
    );
    assert_eq!(
        redacted("postgres://app@db/scopegate"),
        "postgres://app@db/scopegate"
    );
    assert_eq!(redacted("sqlite://scopegate.db"), "sqlite://scopegate.db");
}

#[test]
fn file_keys_set_the_cache_capacities_and_lifetimes() {
    let config = from_file(
        "catalog_capacity = 20000\ncatalog_ttl_seconds = 0\ntoken_cache_capacity = 250000\n\
         token_cache_max_ttl_seconds = 600\nnegative_cache_capacity = 0\n\
         negative_cache_ttl_seconds = 5\nstale_if_error_seconds = 0\n",
    );
    assert_eq!(config.catalog_capacity, 20_000);
    assert_eq!(
        config.catalog_ttl,
        Duration::from_secs(1),
        "at least a second"
    );
    assert_eq!(config.token_cache.max_entries, 250_000);
    assert_eq!(config.token_cache.max_ttl, Duration::from_secs(600));
    assert_eq!(config.token_cache.negative_max_entries, 0);
    assert_eq!(config.token_cache.negative_ttl, Duration::from_secs(5));
    assert_eq!(config.stale_if_error, Duration::ZERO, "0 turns it off");
    // Keys left out keep their defaults.
    assert_eq!(config.health_interval, Duration::from_secs(5));
    assert_eq!(
        from_file("health_interval_seconds = 0\n").health_interval,
        Duration::from_secs(1)
    );
    assert_eq!(
        from_file("health_interval_seconds = 7\n").health_interval,
        Duration::from_secs(7)
    );
}

#[test]
fn file_keys_set_the_connection_and_load_limits() {
    let config = from_file(
        "max_connections = 500\nmax_concurrent_streams = 100\nmax_in_flight = 0\n\
         max_in_flight_per_connection = 32\ncontrol_in_flight = 8\n\
         handshake_timeout_seconds = 0\nidle_timeout_seconds = 0\n\
         keepalive_interval_seconds = 30\nkeepalive_timeout_seconds = 5\n\
         retry_pushback_ms = 250\n",
    );
    let limits = &config.limits;
    assert_eq!(limits.max_connections, 500);
    assert_eq!(limits.max_concurrent_streams, 100);
    assert_eq!(
        limits.max_in_flight, 1,
        "a zero budget would refuse every call"
    );
    assert_eq!(limits.max_in_flight_per_connection, 32);
    assert_eq!(limits.control_in_flight, 8);
    assert_eq!(limits.handshake_timeout, Duration::from_secs(1));
    assert_eq!(limits.idle_timeout, None, "0 turns the idle timeout off");
    assert_eq!(limits.keepalive_interval, Some(Duration::from_secs(30)));
    assert_eq!(limits.keepalive_timeout, Duration::from_secs(5));
    assert_eq!(limits.retry_pushback, Duration::from_millis(250));
}

#[test]
fn limits_default_to_bounded_values() {
    let limits = from_file("").limits;
    assert_eq!(limits, Limits::default());
    assert_eq!(limits.max_connections, 10_000);
    assert_eq!(limits.max_concurrent_streams, 1_024);
    assert_eq!(limits.max_in_flight, 4_096);
    assert_eq!(limits.max_in_flight_per_connection, 512);
    assert_eq!(limits.control_in_flight, 128);
    assert_eq!(limits.handshake_timeout, Duration::from_secs(10));
    assert_eq!(limits.idle_timeout, Some(Duration::from_secs(300)));
    assert_eq!(limits.keepalive_interval, Some(Duration::from_secs(60)));
    assert_eq!(limits.keepalive_timeout, Duration::from_secs(20));
    assert_eq!(limits.retry_pushback, Duration::from_millis(100));
}

#[test]
fn jwks_destination_keys_set_the_network_policy() {
    let config = from_file("");
    assert!(!config.jwks.allow_plain_http && !config.jwks.networks.allow_private);
    let config = from_file(
        "jwks_allow_plain_http = true\njwks_allow_private_networks = true\n\
         jwks_allow_networks = [\"10.1.2.0/24\", \"fd00::7\"]\n\
         jwks_deny_networks = [\"93.184.215.0/24\"]\n",
    );
    let jwks = &config.jwks;
    assert!(jwks.allow_plain_http && jwks.networks.allow_private);
    let allow: Vec<String> = jwks
        .networks
        .allow
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(allow, ["10.1.2.0/24", "fd00::7/128"]);
    assert_eq!(jwks.networks.deny.len(), 1);

    let err = load(
        &ServeFlags::default(),
        &[],
        "jwks_deny_networks = [\"10.0.0.0/33\"]\n",
    )
    .expect_err("not CIDR");
    assert!(err.contains("jwks_deny_networks"), "{err}");
}

#[test]
fn an_unknown_key_is_refused() {
    let err = FileConfig::parse("token_cache_size = 5\n").expect_err("unknown key");
    assert!(err.contains("token_cache_size"), "{err}");
}

#[test]
fn the_file_is_named_by_flag_or_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
    std::fs::write(&a, "catalog_capacity = 1\n").expect("write");
    std::fs::write(&b, "catalog_capacity = 2\n").expect("write");
    let b_text = b.display().to_string();
    let env = move |name: &str| (name == "SCOPEGATE_CONFIG").then(|| b_text.clone());
    let none = |_: &str| None;
    let flags = DbFlags {
        config: Some(a),
        database_url: None,
    };
    let by_flag = FileConfig::named_by(&flags, &env).expect("readable");
    assert_eq!(by_flag.catalog_capacity, Some(1), "the flag wins");
    let by_var = FileConfig::named_by(&DbFlags::default(), &env).expect("readable");
    assert_eq!(by_var.catalog_capacity, Some(2));
    let nothing = FileConfig::named_by(&DbFlags::default(), &none).expect("no file");
    assert_eq!(nothing.catalog_capacity, None);
}

#[test]
fn tls_files_precedence_and_reload_interval() {
    let file = "tls_cert = \"file.pem\"\ntls_key = \"k.pem\"\ntls_reload_interval_ms = 50";
    let cert = |flags: &ServeFlags, vars: &[(&str, &str)], file: &str| {
        load(flags, vars, file)
            .expect("valid")
            .tls
            .map(|t| (t.cert.display().to_string(), t.reload_interval))
    };
    let none = ServeFlags::default();
    let var = [("SCOPEGATE_TLS_CERT", "env.pem")];
    let flags = ServeFlags {
        tls_cert: Some("flag.pem".into()),
        ..ServeFlags::default()
    };
    let ms50 = Duration::from_millis(50);
    assert_eq!(cert(&none, &[], ""), None);
    assert_eq!(cert(&none, &[], file), Some(("file.pem".to_owned(), ms50)));
    assert_eq!(cert(&none, &var, file), Some(("env.pem".to_owned(), ms50)));
    assert_eq!(
        cert(&flags, &var, file),
        Some(("flag.pem".to_owned(), ms50))
    );
    let config = load(
        &ServeFlags::default(),
        &[
            ("SCOPEGATE_TLS_CERT", "c.pem"),
            ("SCOPEGATE_TLS_KEY", "k.pem"),
            ("SCOPEGATE_TLS_CLIENT_CA", "ca.pem"),
        ],
        "",
    )
    .expect("valid");
    let tls = config.tls.expect("TLS on");
    assert_eq!(tls.client_ca, Some("ca.pem".into()));
    assert_eq!(tls.reload_interval, DEFAULT_TLS_RELOAD_INTERVAL);
}

#[test]
fn tls_needs_both_certificate_and_key_and_a_client_ca_needs_them() {
    for (vars, named) in [
        (&[("SCOPEGATE_TLS_CERT", "c.pem")][..], "--tls-key"),
        (&[("SCOPEGATE_TLS_KEY", "k.pem")][..], "--tls-cert"),
        (&[("SCOPEGATE_TLS_CLIENT_CA", "ca.pem")][..], "--tls-cert"),
    ] {
        let err = load(&ServeFlags::default(), vars, "").expect_err("refused");
        assert!(err.contains(named), "{err}");
    }
}

#[test]
fn optional_client_certificates_need_a_client_ca_and_a_known_mode() {
    let pair = [
        ("SCOPEGATE_TLS_CERT", "c.pem"),
        ("SCOPEGATE_TLS_KEY", "k.pem"),
    ];
    let with_ca = [pair[0], pair[1], ("SCOPEGATE_TLS_CLIENT_CA", "ca.pem")];
    let optional = |vars: &[(&str, &str)], mode: &str| {
        let mut vars = vars.to_vec();
        vars.push(("SCOPEGATE_TLS_CLIENT_AUTH", mode));
        load(&ServeFlags::default(), &vars, "").map(|c| c.tls.unwrap().client_auth_optional)
    };

    assert_eq!(optional(&with_ca, "optional"), Ok(true));
    assert_eq!(optional(&with_ca, "required"), Ok(false));
    let default = load(&ServeFlags::default(), &with_ca, "").unwrap();
    assert!(!default.tls.unwrap().client_auth_optional);
    assert!(
        optional(&pair, "optional")
            .unwrap_err()
            .contains("--tls-client-ca")
    );
    assert!(
        optional(&with_ca, "sometimes")
            .unwrap_err()
            .contains("sometimes")
    );
}

#[test]
fn caller_auth_precedence_and_bad_names() {
    use crate::caller::Surfaces;
    precedence(&Key {
        var: "SCOPEGATE_CALLER_AUTH",
        file: "caller_auth = \"introspection\"",
        env: "decision",
        flag: |f| f.caller_auth = Some(Surfaces::ALL),
        get: |c| Some(c.caller_auth.to_string()),
        expect: [
            Some("none"),
            Some("introspection"),
            Some("decision"),
            Some("decision introspection"),
        ]
        .map(|t| t.map(String::from)),
    });
    let err = load(
        &ServeFlags::default(),
        &[],
        "caller_auth = \"decision,admin\"",
    )
    .expect_err("unknown surface");
    assert!(
        err.contains("caller_auth") && err.contains("admin"),
        "{err}"
    );
}

#[test]
fn decision_log_precedence() {
    use crate::decision_log::Mode;
    precedence(&Key {
        var: "SCOPEGATE_DECISION_LOG",
        file: "decision_log = \"off\"",
        env: "all",
        flag: |f| f.decision_log = Some(Mode::Off),
        get: |c| c.decision_log.mode,
        expect: [Mode::Denied, Mode::Off, Mode::All, Mode::Off],
    });
    precedence(&Key {
        var: "SCOPEGATE_DECISION_LOG_FILE",
        file: "decision_log_file = \"/var/log/file.jsonl\"",
        env: "/var/log/env.jsonl",
        flag: |f| f.decision_log_file = Some("/var/log/flag.jsonl".into()),
        get: |c| c.decision_log.file.clone(),
        expect: [
            None,
            Some("/var/log/file.jsonl".into()),
            Some("/var/log/env.jsonl".into()),
            Some("/var/log/flag.jsonl".into()),
        ],
    });
    precedence(&Key {
        var: "SCOPEGATE_DECISION_LOG_MAX_BYTES",
        file: "decision_log_max_bytes = 1000",
        env: "2000",
        flag: |f| f.decision_log_max_bytes = Some(3000),
        get: |c| c.decision_log.max_bytes,
        expect: [100 * 1024 * 1024, 1000, 2000, 3000],
    });
    precedence(&Key {
        var: "SCOPEGATE_DECISION_LOG_KEEP",
        file: "decision_log_keep = 1",
        env: "2",
        flag: |f| f.decision_log_keep = Some(3),
        get: |c| c.decision_log.keep,
        expect: [5, 1, 2, 3],
    });
}

#[test]
fn an_unknown_decision_log_mode_is_refused_naming_its_source() {
    let from_env = load(
        &ServeFlags::default(),
        &[("SCOPEGATE_DECISION_LOG", "some")],
        "",
    );
    let from_file = load(&ServeFlags::default(), &[], "decision_log = \"most\"");
    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        flags: ServeFlags,
    }
    let from_flag = Command::try_parse_from(["serve", "--decision-log", "every"]);
    let all = Command::try_parse_from(["serve", "--decision-log=all"]).expect("valid flag");

    assert!(from_env.unwrap_err().contains("SCOPEGATE_DECISION_LOG"));
    assert!(from_file.unwrap_err().contains("decision_log"));
    assert!(from_flag.is_err());
    assert_eq!(all.flags.decision_log, Some(crate::decision_log::Mode::All));
}
