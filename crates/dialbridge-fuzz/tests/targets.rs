//! The fuzz targets under bolero. `cargo test` replays each target's corpus
//! (`tests/__fuzz__/`) and a bounded random run; `scripts/fuzz.sh` runs each under libFuzzer.

mod fuzz;

#[test]
fn webhook_ingress() {
    bolero::check!().for_each(fuzz::ingress::webhook_ingress);
}

#[test]
fn workflow_definition() {
    bolero::check!().for_each(fuzz::workflows::workflow_definition);
}

#[test]
fn template_evaluation() {
    bolero::check!().for_each(fuzz::templates::template_evaluation);
}

#[test]
fn action_input() {
    bolero::check!().for_each(fuzz::actions::action_input);
}
