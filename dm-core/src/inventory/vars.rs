//! Inventory vars: TOML tables turned into the JSON values tasks and templates see, and layered by
//! precedence.

use crate::host::Vars;

/// A TOML table as [`Vars`]. Datetimes become their TOML text; NaN and infinite floats have no
/// JSON form and are refused, naming the offending key.
pub(crate) fn from_table(table: &toml::Table) -> Result<Vars, String> {
    table
        .iter()
        .map(|(k, v)| Ok((k.clone(), to_json(v, k)?)))
        .collect()
}

/// `path` is where `value` sits inside the vars table, to name it in the error.
fn to_json(value: &toml::Value, path: &str) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f)
                .map(J::Number)
                .ok_or_else(|| {
                    format!(
                        "var `{path}` is {f}, which vars cannot hold (JSON has no NaN or infinity)"
                    )
                })?
        }
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| to_json(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), to_json(v, &format!("{path}.{k}"))?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Layers `top` over `base`: each top-level key of `top` replaces the same key of `base`.
///
/// Replacing whole values (rather than merging nested tables) keeps precedence easy to predict:
/// the value a task sees is exactly one layer's value.
pub(crate) fn layer(base: &mut Vars, top: &Vars) {
    for (k, v) in top {
        base.insert(k.clone(), v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn converts_every_toml_type() {
        let vars = from_table(&table(
            "s = \"x\"\ni = 3\nf = 1.5\nb = true\nd = 1979-05-27\na = [1, \"two\"]\nt = { k = 1 }\n",
        ))
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(vars),
            json!({"s": "x", "i": 3, "f": 1.5, "b": true, "d": "1979-05-27", "a": [1, "two"], "t": {"k": 1}})
        );
    }

    #[test]
    fn nan_is_refused_naming_the_key() {
        let err = from_table(&table("t = { x = [nan] }\n")).unwrap_err();
        assert!(err.starts_with("var `t.x[0]` is NaN"), "{err}");
    }

    #[test]
    fn top_layer_replaces_whole_values() {
        let mut base = from_table(&table("a = 1\nt = { x = 1, y = 2 }\n")).unwrap();
        layer(&mut base, &from_table(&table("t = { x = 9 }\n")).unwrap());
        assert_eq!(
            serde_json::Value::Object(base),
            json!({"a": 1, "t": {"x": 9}})
        );
    }
}
