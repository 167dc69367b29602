//! README.md must stay true: its configuration table is generated from the settings registry,
//! and its two opening commands are the ones CI runs.
const START: &str = "<!-- config-table:start -->";
const END: &str = "<!-- config-table:end -->";

fn readme_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

#[test]
fn configuration_table_matches_the_settings_registry() {
    let readme = std::fs::read_to_string(readme_path()).unwrap();
    let (head, rest) = readme
        .split_once(START)
        .expect("README has the table start marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("README has the table end marker");
    let wanted = format!(
        "{head}{START}\n{}\n{END}{tail}",
        gcli2api::settings::markdown_table().trim_end()
    );
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(readme_path(), &wanted).unwrap();
        return;
    }
    assert!(
        readme == wanted,
        "README.md's configuration table is stale; regenerate it with `UPDATE_README=1 cargo test --test it readme`"
    );
    for def in gcli2api::settings::registry() {
        assert!(readme.contains(def.env), "{} is not documented", def.env);
    }
}

#[test]
fn readme_opens_with_the_run_and_test_commands() {
    let readme = std::fs::read_to_string(readme_path()).unwrap();
    let run = readme.find("\ncargo run --release\n").expect("run command");
    let test = readme.find("\nbash tests/run.sh\n").expect("test command");
    let demo = readme
        .find("cargo run --release -- --demo")
        .expect("demo command");
    assert!(run < test && test < demo, "run, then test, then --demo");
    let ci =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run"))
            .unwrap();
    assert!(
        ci.contains("bash tests/run.sh"),
        ".ci/run calls the README test command"
    );
}
