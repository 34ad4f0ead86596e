use super::*;

use crate::engine::Silent as Quiet;

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs_err::create_dir_all(p.parent().unwrap()).unwrap();
    fs_err::write(p, data).unwrap();
}

fn dep_files(n: usize) -> (tempfile::TempDir, Vec<DepFile>) {
    let d = tempfile::tempdir().unwrap();
    for i in 0..n {
        write(d.path(), &format!("pkg{}/m{i}.py", i % 3), format!("x = {i}\n").repeat(50 + i).as_bytes());
    }
    let files = list_files(d.path()).unwrap();
    (d, files)
}

#[test]
fn deps_zip_bytes_do_not_depend_on_thread_count() {
    let (_d, files) = dep_files(40);
    let out = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for threads in [1, 2, 5] {
        let p = out.path().join(format!("{threads}.zip"));
        write_deps_zip(&p, &files, threads).unwrap();
        digests.push(source::hash_file(&p).unwrap());
    }
    assert_eq!(digests[0], digests[1]);
    assert_eq!(digests[0], digests[2]);
}

#[test]
fn split_covers_every_file_once_in_order() {
    let (_d, files) = dep_files(17);
    for n in 1..6 {
        let chunks = split_by_size(&files, n);
        assert!(chunks.len() <= n);
        let joined: Vec<&str> = chunks.iter().flat_map(|c| c.iter().map(|f| f.rel.as_str())).collect();
        let all: Vec<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(joined, all);
    }
}

#[test]
fn code_sha256_is_base64_as_lambda_reports_it() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    // sha256 of the empty input, as `openssl dgst -sha256 -binary | base64` prints it.
    let z = LambdaZip {
        path: PathBuf::new(),
        sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        bytes: 0,
        unzipped_bytes: 0,
        entries: 0,
        needs_s3: false,
        cached: false,
        inputs: Default::default(),
    };
    assert_eq!(z.code_sha256(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert_eq!(z.info().digest, format!("sha256:{}", z.sha256));
}

#[test]
fn package_names_fold_libs_and_dist_info() {
    assert_eq!(package_of("numpy.libs/libx.so"), "numpy");
    assert_eq!(package_of("numpy-2.2.6.dist-info/RECORD"), "numpy");
    assert_eq!(package_of("pydantic_core/_core.so"), "pydantic_core");
    assert_eq!(package_of("typing_extensions.py"), "typing_extensions");
}

#[test]
fn entries_are_sorted_with_fixed_time_and_modes() {
    let cache = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    write(app.path(), "app/main.py", b"app = 1\n");
    write(app.path(), "run.sh", b"#!/bin/sh\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(app.path().join("run.sh"), std::fs::Permissions::from_mode(0o775)).unwrap();
    }
    let set = source::collect(app.path(), &[]).unwrap();
    let zip = build_in(cache.path(), &set, None, &Limits::default(), None, &Quiet).unwrap();
    let mut archive = ZipArchive::new(File::open(&zip.path).unwrap()).unwrap();
    let names: Vec<String> = (0..archive.len()).map(|i| archive.name_for_index(i).unwrap().to_string()).collect();
    assert_eq!(names, ["aideploy_lambda.py", "aideploy_secrets.py", "app/main.py", "run.sh"]);
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i).unwrap();
        assert_eq!(f.last_modified(), Some(DateTime::default()));
        assert!(f.extra_data().is_none_or(|d| d.is_empty()), "{} has extra data", f.name());
        let want = if f.name() == "run.sh" { 0o100755 } else { 0o100644 };
        assert_eq!(f.unix_mode(), Some(want), "{}", f.name());
    }
    // Unchanged inputs: the cached zip, not a new build.
    let again = build_in(cache.path(), &set, None, &Limits::default(), None, &Quiet).unwrap();
    assert!(again.cached);
    assert_eq!(again.sha256, zip.sha256);
}

#[test]
fn a_name_in_two_places_is_an_error_naming_both() {
    let cache = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    write(app.path(), "aideploy_lambda.py", b"# mine\n");
    let set = source::collect(app.path(), &[]).unwrap();
    let e = build_in(cache.path(), &set, None, &Limits::default(), None, &Quiet).unwrap_err();
    let e = crate::error::Failure::of(&e).and_then(crate::error::Failure::as_hinted).unwrap();
    assert!(e.message.contains("`aideploy_lambda.py` is in both"), "{}", e.message);
    assert!(e.hint.contains("exclude"), "{}", e.hint);
    assert_eq!(
        fs_err::read_dir(cache.path()).unwrap().filter(|e| { e.as_ref().unwrap().file_name().to_string_lossy().contains(".tmp-") }).count(),
        0,
        "no partial zip is left behind"
    );
}

#[test]
fn oversized_package_lists_the_largest_packages() {
    let deps = tempfile::tempdir().unwrap();
    write(deps.path(), "small/__init__.py", &[b'x'; 100]);
    for (name, size) in [("torch", 9000u64), ("numpy", 3000), ("scipy", 5000)] {
        let p = deps.path().join(name).join("blob.so");
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        File::create(&p).unwrap().set_len(size).unwrap();
    }
    let files: Vec<(String, u64)> = list_files(deps.path()).unwrap().into_iter().map(|f| (f.rel, f.size)).collect();
    let e = too_big(17_200, &Limits { max_direct_upload: 10, max_unzipped: 10_000 }, &files, 100);
    let lines: Vec<&str> = e.message.lines().collect();
    assert!(lines[0].contains("over Lambda's limit"), "{}", e.message);
    assert!(lines[2].trim_start().starts_with("torch"), "{}", e.message);
    assert!(lines[3].trim_start().starts_with("scipy"), "{}", e.message);
    assert!(lines[4].trim_start().starts_with("numpy"), "{}", e.message);
    assert!(e.hint.contains("package = \"image\""));
    // The lambda target recognises it, and nothing else, as the reason for an image.
    let reason = too_big_reason(&anyhow::Error::from(e)).unwrap();
    assert!(reason.starts_with("the Lambda package would be 0.0 MiB unzipped, over Lambda's limit"), "{reason}");
    assert_eq!(too_big_reason(&anyhow::Error::from(Hinted::new("cannot read x", "fix it"))), None);
    assert_eq!(too_big_reason(&anyhow::anyhow!("the Lambda package would be odd")), None);
}

fn pyc(rel: &str, size: u64) -> Pyc {
    Pyc { rel: rel.into(), abs: PathBuf::from("/nowhere").join(rel), size }
}

#[test]
fn bytecode_that_does_not_fit_is_left_out_for_the_largest_packages_first() {
    let installed = vec![("torch/a.py".to_string(), 900u64), ("numpy/b.py".into(), 300), ("small/c.py".into(), 10)];
    let all = || {
        vec![
            pyc("numpy/__pycache__/b.cpython-311.pyc", 50),
            pyc("small/__pycache__/c.cpython-311.pyc", 5),
            pyc("torch/__pycache__/a.cpython-311.pyc", 100),
        ]
    };
    // Everything fits: nothing left out.
    let (kept, out) = fit_bytecode(all(), &installed, 155);
    assert_eq!((kept.len(), out), (3, Vec::<String>::new()));
    // 10 bytes too many: torch (the largest installed package) goes, though numpy's alone would do.
    let (kept, out) = fit_bytecode(all(), &installed, 145);
    assert_eq!(out, vec!["torch".to_string()]);
    assert_eq!(
        kept.iter().map(|p| p.rel.as_str()).collect::<Vec<_>>(),
        ["numpy/__pycache__/b.cpython-311.pyc", "small/__pycache__/c.cpython-311.pyc"]
    );
    // Room for almost nothing: torch, then numpy.
    let (kept, out) = fit_bytecode(all(), &installed, 5);
    assert_eq!(out, vec!["torch".to_string(), "numpy".to_string()]);
    assert_eq!(kept.len(), 1);
}

/// With a compiler: each `.py` of the app, the adapter and the deps has its unchecked-hash
/// `.pyc` beside it in `__pycache__`, counted in the unzipped size; the same inputs give
/// the same zip; a compiler left out gives a different zip, not the cached one.
#[test]
fn a_zip_with_a_compiler_carries_bytecode_for_every_module() {
    let Ok(compiler) = crate::artifact::bytecode::compiler_for("3.11") else {
        eprintln!("no python3.11 here: nothing to compile with");
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    write(app.path(), "app/main.py", b"app = 1\n");
    write(app.path(), "app/notes.txt", b"not python\n");
    let deps_dir = tempfile::tempdir().unwrap();
    write(deps_dir.path(), "pkg/__init__.py", b"VALUE = 2\n");
    let deps = DepsDir { dir: deps_dir.path().to_path_buf(), key: "k1".into(), cached: true };
    let set = source::collect(app.path(), &[]).unwrap();
    let zip = build_in(cache.path(), &set, Some(&deps), &Limits::default(), Some(&compiler), &Quiet).unwrap();
    let names: Vec<String> = list_entries(&zip.path).unwrap().into_iter().map(|(n, _)| n).collect();
    let tag = &compiler.cache_tag;
    for want in [
        format!("__pycache__/aideploy_lambda.{tag}.pyc"),
        format!("__pycache__/aideploy_secrets.{tag}.pyc"),
        format!("app/__pycache__/main.{tag}.pyc"),
        format!("pkg/__pycache__/__init__.{tag}.pyc"),
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert_eq!(names.iter().filter(|n| n.ends_with(".pyc")).count(), 4, "{names:?}");
    let listed: u64 = list_entries(&zip.path).unwrap().iter().map(|e| e.1).sum();
    assert_eq!(zip.unzipped_bytes, listed, "the unzipped size counts the bytecode");

    // A fresh cache (another machine): the same bytes.
    let other = tempfile::tempdir().unwrap();
    let again = build_in(other.path(), &set, Some(&deps), &Limits::default(), Some(&compiler), &Quiet).unwrap();
    assert!(!again.cached);
    assert_eq!(again.sha256, zip.sha256);
    // No compiler: another zip, without bytecode.
    let plain = build_in(cache.path(), &set, Some(&deps), &Limits::default(), None, &Quiet).unwrap();
    assert!(!plain.cached);
    assert!(list_entries(&plain.path).unwrap().iter().all(|(n, _)| !n.ends_with(".pyc")));
}
