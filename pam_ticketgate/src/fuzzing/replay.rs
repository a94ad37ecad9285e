//! Replays `fuzz/seeds/<target>/*` (the seed corpus and the regression inputs of fixed
//! findings) through the harnesses on stable, as part of the normal test suite.

use std::path::{Path, PathBuf};

use super::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn names_in(dir: &Path, ext: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn every_seed_and_regression_input_keeps_its_targets_properties() {
    for &(name, harness) in TARGETS {
        let dir = fuzz_dir().join("seeds").join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "fuzz/seeds/{name} has no seeds");
        let mut accepted = 0;
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            let ran = std::panic::catch_unwind(|| harness(&bytes));
            match ran {
                Ok(true) => accepted += 1,
                Ok(false) => {}
                Err(_) => panic!("{}: a property of {name} does not hold", path.display()),
            }
        }
        assert!(
            accepted > 0,
            "no seed of {name} gets past its decoder: the target tests nothing"
        );
    }
}

#[test]
fn every_fuzz_target_has_a_harness_and_seeds_and_nothing_else_does() {
    let mut want: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    want.sort();
    let targets = fuzz_dir().join("fuzz_targets");
    assert_eq!(names_in(&targets, Some("rs")), want, "fuzz/fuzz_targets");
    assert_eq!(
        names_in(&fuzz_dir().join("seeds"), None),
        want,
        "fuzz/seeds"
    );
    for name in &want {
        let text = std::fs::read_to_string(targets.join(format!("{name}.rs"))).unwrap();
        assert!(
            text.contains(&format!("harness(\"{name}\")")),
            "fuzz_targets/{name}.rs does not run the {name} harness"
        );
    }
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for name in &want {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
}
