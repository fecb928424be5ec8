//! Line-level three-way merge of text (diff3 style), independent of any
//! repository: given base, ours and theirs, produce the merged text and
//! whether it holds conflict markers.

/// A hunk: base lines `[start, end)` replaced by `lines`.
struct Hunk<'a> {
    start: usize,
    end: usize,
    lines: Vec<&'a str>,
}

fn hunks<'a>(base: &[&'a str], side: &[&'a str]) -> Vec<Hunk<'a>> {
    use similar::{capture_diff_slices, Algorithm, DiffOp};
    let mut out = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, base, side) {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete { old_index, old_len, .. } => {
                out.push(Hunk { start: old_index, end: old_index + old_len, lines: vec![] })
            }
            DiffOp::Insert { old_index, new_index, new_len } => out.push(Hunk {
                start: old_index,
                end: old_index,
                lines: side[new_index..new_index + new_len].to_vec(),
            }),
            DiffOp::Replace { old_index, old_len, new_index, new_len } => out.push(Hunk {
                start: old_index,
                end: old_index + old_len,
                lines: side[new_index..new_index + new_len].to_vec(),
            }),
        }
    }
    out
}

fn region<'a>(base: &[&'a str], hs: &[&Hunk<'a>], start: usize, end: usize) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut p = start;
    for h in hs {
        out.extend_from_slice(&base[p..h.start]);
        out.extend_from_slice(&h.lines);
        p = h.end;
    }
    out.extend_from_slice(&base[p..end]);
    out
}

/// Line-level three-way merge (diff3 style). Returns the merged text and
/// whether it holds conflict markers.
pub fn merge_text(base: &str, ours: &str, theirs: &str, label: &str) -> (String, bool) {
    fn split(s: &str) -> Vec<&str> {
        s.split_inclusive('\n').collect()
    }
    let (b, o, t) = (split(base), split(ours), split(theirs));
    let (ho, ht) = (hunks(&b, &o), hunks(&b, &t));
    let (mut i, mut j, mut pos) = (0, 0, 0);
    let mut out = String::new();
    let mut conflict = false;
    while i < ho.len() || j < ht.len() {
        let first_ours = j >= ht.len() || (i < ho.len() && ho[i].start <= ht[j].start);
        let (start, mut end) = if first_ours { (ho[i].start, ho[i].end) } else { (ht[j].start, ht[j].end) };
        let (mut go, mut gt): (Vec<&Hunk>, Vec<&Hunk>) = (Vec::new(), Vec::new());
        loop {
            let joins =
                |h: &Hunk| h.start < end || h.start == start || (h.start == end && (h.start == h.end || start == end));
            if i < ho.len() && joins(&ho[i]) {
                end = end.max(ho[i].end);
                go.push(&ho[i]);
                i += 1;
            } else if j < ht.len() && joins(&ht[j]) {
                end = end.max(ht[j].end);
                gt.push(&ht[j]);
                j += 1;
            } else {
                break;
            }
        }
        for l in &b[pos..start] {
            out.push_str(l);
        }
        let ro = region(&b, &go, start, end);
        let rt = region(&b, &gt, start, end);
        if gt.is_empty() || ro == rt {
            ro.iter().for_each(|l| out.push_str(l));
        } else if go.is_empty() {
            rt.iter().for_each(|l| out.push_str(l));
        } else {
            conflict = true;
            let push_block = |out: &mut String, lines: &[&str]| {
                for l in lines {
                    out.push_str(l);
                }
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            };
            out.push_str("<<<<<<< ours\n");
            push_block(&mut out, &ro);
            out.push_str("=======\n");
            push_block(&mut out, &rt);
            out.push_str(&format!(">>>>>>> {label}\n"));
        }
        pos = end;
    }
    for l in &b[pos..] {
        out.push_str(l);
    }
    (out, conflict)
}

#[cfg(test)]
mod tests {
    use super::merge_text;

    #[test]
    fn clean_and_conflicting_text_merges() {
        let base = "a\nb\nc\nd\n";
        let (m, c) = merge_text(base, "A\nb\nc\nd\n", "a\nb\nc\nD\n", "x");
        assert!(!c);
        assert_eq!(m, "A\nb\nc\nD\n");
        let (m, c) = merge_text(base, "a\nB1\nc\nd\n", "a\nB2\nc\nd\n", "x");
        assert!(c);
        assert!(m.contains("<<<<<<< ours\nB1\n=======\nB2\n>>>>>>> x\n"));
    }
}
