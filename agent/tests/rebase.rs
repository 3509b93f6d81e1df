//! Moving the agent's edit onto text the user changed since the agent read
//! it: done when it still applies cleanly, refused otherwise, and never
//! over text it was not made for.

use std::ops::Range;

use meshls_agent::host::rebase;
use proptest::prelude::*;

fn apply(text: &str, replacements: &[(Range<usize>, String)]) -> String {
    let mut out = text.to_owned();
    for (range, new) in replacements.iter().rev() {
        out.replace_range(range.clone(), new);
    }
    out
}

const READ: &str = "fn a() {\n    old();\n}\n\nfn b() {\n    keep();\n}\n";

fn fix_old() -> Vec<(Range<usize>, String)> {
    let at = READ.find("old").unwrap();
    vec![(at..at + 3, "new".to_owned())]
}

#[test]
fn an_edit_moves_past_what_the_user_typed_before_it_or_after_it() {
    // Before: the edit moves by what was added.
    let current = format!("// header\n{READ}");
    let rebased = rebase(READ, &current, &fix_old()).unwrap();
    assert_eq!(
        apply(&current, &rebased),
        format!("// header\n{}", READ.replace("old", "new"))
    );
    // After: it stays where it was.
    let current = READ.replace("keep", "keep_going");
    let rebased = rebase(READ, &current, &fix_old()).unwrap();
    assert_eq!(
        apply(&current, &rebased),
        READ.replace("old", "new").replace("keep", "keep_going")
    );
}

#[test]
fn an_edit_between_two_changes_is_found_by_its_lines() {
    let current = format!("// header\n{}// footer\n", READ);
    let rebased = rebase(READ, &current, &fix_old()).unwrap();
    assert_eq!(
        apply(&current, &rebased),
        format!("// header\n{}// footer\n", READ.replace("old", "new"))
    );
}

#[test]
fn an_edit_whose_text_the_user_changed_is_refused() {
    assert_eq!(
        rebase(READ, &READ.replace("old", "older"), &fix_old()),
        None
    );
    // Its line changed elsewhere: not the text the edit was made for.
    assert_eq!(
        rebase(READ, &READ.replace("old();", "old(1);"), &fix_old()),
        None
    );
    // Its lines are there twice now (and both ends changed): no guessing.
    let twice = format!("// a\n{READ}{READ}// b\n");
    assert_eq!(rebase(READ, &twice, &fix_old()), None);
}

#[test]
fn an_edit_whose_line_changed_anywhere_is_refused() {
    // Typed at the start of the line.
    let current = READ.replace("    old();", "x    old();");
    assert_eq!(rebase(READ, &current, &fix_old()), None);
    // The last line, without a line break, grew.
    let read = "a\nfoo";
    let edit = vec![(2..5, "baz".to_owned())];
    assert_eq!(rebase(read, "a\nfoobar", &edit), None);
    // Found in the middle of a changed line is not found as a line.
    let read = "a\nold();\nb\n";
    let edit = vec![(2..5, "new".to_owned())];
    assert_eq!(rebase(read, "A\nxold();\nB\n", &edit), None);
    // While the same line, whole, between two changes, is.
    let moved = rebase(read, "A\nold();\nB\n", &edit).unwrap();
    assert_eq!(apply("A\nold();\nB\n", &moved), "A\nnew();\nB\n");
}

/// Lines of a few distinct words, so a random edit can land anywhere.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-c]{0,6}", 1..12).prop_map(|lines| lines.join("\n") + "\n")
}

proptest! {
    /// Whatever the two changes, a rebased edit replaces exactly the text
    /// it was made for.
    #[test]
    fn a_rebased_edit_replaces_only_the_text_it_was_made_for(
        read in text(),
        cut in (0usize..64, 0usize..8),
        user in (0usize..64, 0usize..8, "[a-d\n]{0,6}"),
    ) {
        let clamp = |at: usize| {
            let mut at = at.min(read.len());
            while !read.is_char_boundary(at) { at -= 1; }
            at
        };
        let ours = clamp(cut.0)..clamp(cut.0 + cut.1);
        let theirs = clamp(user.0)..clamp(user.0 + user.1);
        let mut current = read.clone();
        current.replace_range(theirs, &user.2);
        let replacements = vec![(ours.clone(), "X".to_owned())];
        if let Some(rebased) = rebase(&read, &current, &replacements) {
            let (moved, _) = &rebased[0];
            prop_assert_eq!(&current[moved.clone()], &read[ours.clone()]);
            // And the whole lines around it are as they were read.
            // (From the line of its first byte to that of its last.)
            let line = |text: &str, range: &std::ops::Range<usize>| {
                let start = text[..range.start].rfind('\n').map_or(0, |at| at + 1);
                let last = if range.is_empty() { range.end } else { range.end - 1 };
                let end = text[last..].find('\n').map_or(text.len(), |at| last + at + 1);
                text[start..end].to_owned()
            };
            prop_assert_eq!(line(&current, moved), line(&read, &ours));
        }
    }

    /// An edit on lines the user did not touch, with a line between, is
    /// always moved, and the result holds both changes.
    #[test]
    fn edits_on_separate_lines_both_land(
        lines in prop::collection::vec("[a-z]{1,4}", 4..10).prop_map(|lines| {
            // Distinct lines, so finding one is never in doubt.
            lines.iter().enumerate().map(|(n, l)| format!("{n}{l}")).collect::<Vec<_>>()
        }),
        pick in (0usize..100, 0usize..100),
        typed in "[a-z]{0,5}",
    ) {
        let n = lines.len();
        let ours = pick.0 % n;
        // A line at least one away (there are, with four lines or more).
        let away: Vec<usize> = (0..n).filter(|line| line.abs_diff(ours) >= 2).collect();
        let theirs = away[pick.1 % away.len()];
        let read = lines.join("\n") + "\n";
        let start = |line: usize| lines[..line].iter().map(|l| l.len() + 1).sum::<usize>();
        let ours_range = start(ours)..start(ours) + lines[ours].len();
        let replacements = vec![(ours_range, "EDITED".to_owned())];
        let mut user_lines = lines.clone();
        user_lines[theirs] = format!("{}{typed}", lines[theirs]);
        let current = user_lines.join("\n") + "\n";
        let rebased = rebase(&read, &current, &replacements).expect("applies cleanly");
        let mut expected = user_lines.clone();
        expected[ours] = "EDITED".to_owned();
        prop_assert_eq!(apply(&current, &rebased), expected.join("\n") + "\n");
    }
}
