//! The container files agree with each other and with the crate: the image is built and run for
//! real by tests/container/test_image.py (from tests/run.sh); these catch drift cheaply.
use std::path::Path;

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// The value of `ARG name=value` in the Containerfile.
fn arg(containerfile: &str, name: &str) -> String {
    containerfile
        .lines()
        .find_map(|l| l.strip_prefix(&format!("ARG {name}=")))
        .unwrap_or_else(|| panic!("Containerfile has no ARG {name}="))
        .trim()
        .to_string()
}

#[test]
fn image_labels_follow_cargo_toml() {
    let c = read("Containerfile");
    assert_eq!(arg(&c, "VERSION"), env!("CARGO_PKG_VERSION"));
    assert_eq!(arg(&c, "SOURCE"), env!("CARGO_PKG_REPOSITORY"));
    for label in ["version", "source", "licenses"] {
        assert!(
            c.contains(&format!("org.opencontainers.image.{label}=")),
            "{label}"
        );
    }
}

#[test]
fn the_image_copies_what_the_static_profile_builds_and_the_context_lets_through() {
    let c = read("Containerfile");
    let profile = read(".config/static.toml");
    let ignore = read(".dockerignore");
    let target = profile
        .lines()
        .find_map(|l| l.strip_prefix("target = "))
        .expect("the static profile names its target")
        .trim_matches('"');
    let release = format!("target/{target}/release/gcli2api");
    assert_eq!(arg(&c, "BINARY"), release);
    assert!(profile.contains(&format!("[target.{target}]")));
    assert!(profile.contains("target-feature=+crt-static"));
    // The release binary for the README's build, the dev one for the test's.
    for path in [release, format!("target/{target}/debug/gcli2api")] {
        assert!(
            ignore.lines().any(|l| l == format!("!{path}")),
            "{path} is kept out of the build context"
        );
    }
    assert!(ignore.lines().any(|l| l == "!LICENSE"));
}

#[test]
fn port_and_data_dir_agree_across_image_compose_and_defaults() {
    let c = read("Containerfile");
    let port = gcli2api::settings::registry()
        .iter()
        .find(|d| d.key == "port");
    let default_port = match port.unwrap().default {
        gcli2api::settings::DefaultValue::Int(p) => p,
        _ => panic!("PORT defaults to a number"),
    };
    assert!(c.contains(&format!("PORT={default_port}")));
    assert!(c.contains(&format!("EXPOSE {default_port}")));
    assert!(c.contains("DATA_DIR=/data"));
    assert!(c.contains("VOLUME /data"));
    assert!(c.contains(r#"CMD ["/gcli2api", "healthcheck"]"#));
    let compose = read("compose.yaml");
    assert!(compose.contains(&format!(
        "${{PORT:-{default_port}}}:${{PORT:-{default_port}}}"
    )));
    assert!(compose.contains("gcli2api-data:/data"));
    assert!(compose.contains("env_file: .env"));
}
