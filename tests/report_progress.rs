//! `quantlens report`'s progress: a count of sample runs (the sample stepped
//! through, then every profile that runs the model over the compared
//! samples), drawn on stderr only when it is a terminal.

mod common;

use std::sync::Mutex;

use common::*;
use quantlens::report::{build_with_progress, Options, Progress};
use quantlens::model::OpKind;
use quantlens::{Model, Plan, Profile};

/// The events of one page, and the page.
fn events(stem: &str, opts: &Options) -> (Vec<Progress>, String) {
    let m = Model::from_path(model(stem)).unwrap();
    let inputs = quantlens::io::read_samples(golden_dir(stem).join("input.npy")).unwrap();
    let seen = Mutex::new(Vec::new());
    let page = build_with_progress(&model(stem), &m, &inputs, "input.npy", opts, &|p| seen.lock().unwrap().push(p)).unwrap();
    (seen.into_inner().unwrap(), page)
}

/// The last total, the sum of the increments, and whether the count ever
/// passed the total known at that moment.
fn tally(ev: &[Progress]) -> (usize, usize, bool) {
    let (mut total, mut done, mut over) = (0, 0, false);
    for e in ev {
        match *e {
            Progress::Total(n) => total = n,
            Progress::Done(n) => {
                done += n;
                over |= done > total;
            }
        }
    }
    (total, done, over)
}

#[test]
fn the_count_is_the_sample_runs_of_the_page() {
    let k = 5;
    let (ev, page) = events("cnn_ptq_int8", &Options { max_samples: k, ..Default::default() });
    let profiles = Profile::ALL.iter().filter(|&&p| Plan::new(Model::from_path(model("cnn_ptq_int8")).unwrap(), p).is_ok()).count();
    assert_eq!(profiles, 4);
    assert_eq!(ev.first(), Some(&Progress::Total(1)), "{ev:?}");
    assert_eq!(ev[1], Progress::Done(1), "the step-through is one run: {ev:?}");
    let (total, done, over) = tally(&ev);
    assert_eq!(total, 1 + profiles * k, "{ev:?}");
    assert_eq!(done, total, "{ev:?}");
    assert!(!over, "{ev:?}");
    // One increment per sample of each profile: the bar moves as the runs finish.
    assert_eq!(ev.iter().filter(|e| **e == Progress::Done(1)).count(), 1 + profiles * k);
    assert!(page.contains(&format!("Every profile on the first {k} of the")));
}

/// The comparison runs fewer samples than asked when the input holds fewer.
#[test]
fn the_count_follows_the_samples_there_are() {
    let (ev, _) = events("mlp_ptq_int8_per_tensor", &Options { max_samples: 3, ..Default::default() });
    let (total, done, over) = tally(&ev);
    assert_eq!((total, done, over), (1 + 4 * 3, 1 + 4 * 3, false), "{ev:?}");
}

/// A model the profile refuses (an op it has no kernel for): its page stops
/// at the tables, and the count at the one attempted run.
#[test]
fn a_refused_model_counts_one_run() {
    let stem = "cnn_ptq_int8";
    let mut m = Model::from_path(model(stem)).unwrap();
    m.operators[0].kind = OpKind::Custom("NotAKernel".into());
    let inputs = quantlens::io::read_samples(golden_dir(stem).join("input.npy")).unwrap();
    let seen = Mutex::new(Vec::new());
    let page = build_with_progress(&model(stem), &m, &inputs, "input.npy", &Options::default(), &|p| seen.lock().unwrap().push(p)).unwrap();
    assert!(page.contains("refuses this model"));
    assert_eq!(seen.into_inner().unwrap(), vec![Progress::Total(1), Progress::Done(1)]);
}

/// Not a terminal (a pipe, as in scripts and tests): nothing on stderr.
#[test]
fn report_is_silent_without_a_terminal() {
    let out = tempdir("report-progress", "silent").join("cnn.html");
    let o = bin().args(["report", model("cnn_ptq_int8").to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("wrote "));
}
