//! The project the agent tests work on in an editor: one TypeScript file
//! with a type error on line 1, and the model's turns that fix it.

use serde_json::json;

use crate::model_server::{tool_call, Reply};

pub const PROJECT: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true}}
//- /src/main.ts
const label: string = 42;
export const text = label.toUpperCase();
"#;

/// The model reads the file.
pub fn read_main() -> Reply {
    tool_call("c1", "read_file", json!({"path": "src/main.ts"}))
}

/// The fix of the type error, as the model asks for it.
pub fn fix_main() -> Reply {
    tool_call(
        "c2",
        "edit_file",
        json!({"path": "src/main.ts", "old_string": "= 42;", "new_string": "= \"42\";"}),
    )
}
