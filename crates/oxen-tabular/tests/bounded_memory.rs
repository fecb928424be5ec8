//! A 200k-row keyed diff and merge with a small memory budget: results are
//! exact, summaries spill to disk, and the process' peak RSS stays far
//! below the size the original implementation needed (20-100x the file).
//! Alone in its own test binary so the peak RSS is this test's.

use std::io::Write;

use oxen_tabular::diff::{diff, DiffOptions};
use oxen_tabular::merge::{merge, MergeOptions, MergeOutcome};
use oxen_tabular::{Limits, Source, TabularFormat};

const ROWS: u64 = 200_000;

fn write(path: &std::path::Path, edit: impl Fn(u64) -> Option<String>) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "id,name,score,city,note").unwrap();
    for i in 0..ROWS {
        if let Some(line) = edit(i) {
            writeln!(w, "{line}").unwrap();
        }
    }
}

fn row(i: u64) -> String {
    format!(
        "{i},name{i},{}.{},city{},\"note, {i}, and a longer comment so the file passes 16 MiB\"",
        i % 1000,
        i % 7,
        i % 97
    )
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn diff_and_merge_200k_rows_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a.csv"), dir.path().join("b.csv"), dir.path().join("c.csv"));
    write(&a, |i| Some(row(i)));
    // b: 100 modified, every 10_000th removed, 5 added at the end.
    write(&b, |i| match i {
        _ if i % 2000 == 7 => Some(row(i).replacen("name", "NAME", 1)),
        _ if i % 10_000 == 3 => None,
        _ => Some(row(i)),
    });
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&b).unwrap();
        for j in 0..5 {
            writeln!(f, "{},new,1.0,x,y", ROWS + j).unwrap();
        }
    }
    // c: other rows' scores changed.
    write(&c, |i| {
        if i % 1000 == 500 {
            Some(row(i).replacen(&format!(",{}.{},", i % 1000, i % 7), ",-1,", 1))
        } else {
            Some(row(i))
        }
    });

    // Past the 16 MiB the original `oxen diff` refused to diff as a table.
    assert!(std::fs::metadata(&a).unwrap().len() > 16 << 20);

    let spill = tempfile::tempdir().unwrap();
    let limits = Limits { mem_budget: 8 << 20, temp_dir: Some(spill.path().to_path_buf()) };
    let before = peak_rss_kib();
    let t = std::time::Instant::now();
    let opts = DiffOptions { keys: vec!["id".into()], row_limit: Some(20), limits: limits.clone() };
    let d = diff("t.csv", TabularFormat::Csv, Some(&Source::path(&a)), Some(&Source::path(&b)), &opts).unwrap();
    let r = &d.tabular.rows;
    assert_eq!((r.added, r.removed, r.modified), (5, 20, 100));
    assert_eq!(d.tabular.modified.len(), 20);
    assert_eq!(d.tabular.modified[0].key.to_value(), serde_json::json!({"id": 7}));
    assert!(!d.tabular.row_order_changed);
    assert!(d.tabular.truncated);
    let diff_time = t.elapsed();

    let mut out = Vec::new();
    let mopts = MergeOptions { keys: vec!["id".into()], limits, ..Default::default() };
    let o = merge(
        "t.csv",
        TabularFormat::Csv,
        Some(&Source::path(&a)),
        &Source::path(&b),
        &Source::path(&c),
        &mopts,
        &mut out,
    )
    .unwrap();
    let MergeOutcome::Merged(rep) = o else { panic!("{o:?}") };
    assert!(rep.is_clean());
    assert_eq!(rep.stats.rows, ROWS - 20 + 5);
    assert_eq!(rep.stats.rewritten, 200);
    let peak = peak_rss_kib();
    // Shown with --nocapture.
    let _ = writeln!(
        std::io::stderr(),
        "diff {diff_time:?}, total {:?}, peak RSS {} MiB (before {} MiB)",
        t.elapsed(),
        peak >> 10,
        before >> 10
    );
    // The files are ~18 MB each; the merged output is held in memory here
    // (another ~18 MB). The original needed 20-100x the file size.
    assert!(peak < 160 << 10, "peak RSS {} MiB", peak >> 10);
    // Nothing left in the spill dir.
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
}
