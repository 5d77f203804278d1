//! A workflow definition's body (`PUT /api/v1/workflows/{key}`) through `Definition::parse`,
//! as the route reads it. A definition that is accepted must be stored and read back: its
//! normalised JSON reads again (as enabling and running a workflow read it), validates, and
//! normalises to itself.

use dialbridge_core::{validate_workflow, Definition};

/// An odd first byte sends the rest as YAML, an even one as JSON.
pub fn workflow_definition(input: &[u8]) {
    let Some((mode, body)) = super::steer(input) else {
        return;
    };
    let content_type = if mode & 1 == 1 {
        "application/yaml"
    } else {
        "application/json"
    };
    match Definition::parse(body, Some(content_type)) {
        Ok(definition) => {
            let stored = definition.to_value();
            let read_back = Definition::from_value(&stored).unwrap_or_else(|e| {
                panic!("the stored form of a saved workflow reads back: {e:?}")
            });
            if let Err(problems) = validate_workflow(&read_back) {
                panic!("the stored form of a saved workflow is valid: {problems:?}");
            }
            assert_eq!(read_back.to_value(), stored, "the stored form is normal");
        }
        Err(problems) => assert!(!problems.is_empty(), "a refusal names its problems"),
    }
}
