//! The machine-readable report (SPEC section 4): exactly one JSON document.

use super::Report;

/// Render the report as one pretty-printed JSON document, ending with a newline.
///
/// The shape is the serde form of [`Report`], so `serde_json::from_str::<Report>` reads it back.
pub fn render(report: &Report) -> String {
    // Serializing plain structs with string map keys cannot fail; a panic here is a model bug.
    let mut out = serde_json::to_string_pretty(report).expect("Report serializes to JSON");
    out.push('\n');
    out
}

/// The document printed on stdout instead of a report when the lab could not be set up (exit 2):
/// `{"error":{"kind":"...","message":"..."}}`, ending with a newline.
pub fn error(kind: &str, message: &str) -> String {
    let doc = serde_json::json!({ "error": { "kind": kind, "message": message } });
    let mut out = serde_json::to_string_pretty(&doc).expect("a json! value serializes");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::super::text::tests::sample;
    use super::*;
    use serde_json::Value;

    #[test]
    fn round_trips_through_serde() {
        let report = sample();
        let back: Report = serde_json::from_str(&render(&report)).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn has_the_spec_shape() {
        let value: Value = serde_json::from_str(&render(&sample())).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "tool", "profile", "fault", "target", "lab", "checks", "summary", "timings",
        ] {
            assert!(keys.contains(&key), "missing {key}");
        }
        assert_eq!(value["tool"]["name"], "jitsi-conformance");
        assert_eq!(value["fault"], "no-ws-upgrade");
        assert_eq!(value["target"]["public_ip"], "198.51.100.2");
        assert_eq!(value["lab"]["apache2"], "2.4.71-1~deb12u1");
        assert_eq!(value["checks"][1]["severity"], "must");
        assert_eq!(value["checks"][1]["status"], "fail");
        assert_eq!(value["checks"][0]["duration_ms"], 3);
        assert_eq!(value["summary"]["total"], 5);
        assert_eq!(value["timings"]["lab_up_ms"], 12_345);
    }

    #[test]
    fn no_fault_is_null() {
        let mut report = sample();
        report.fault = None;
        let value: Value = serde_json::from_str(&render(&report)).unwrap();
        assert!(value["fault"].is_null());
    }

    #[test]
    fn exactly_one_document() {
        let text = render(&sample());
        let mut docs = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
        assert!(docs.next().unwrap().is_ok());
        assert!(docs.next().is_none());
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn error_document() {
        let text = error("docker", "cannot reach Docker: \"start it\"\n then retry");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 1);
        assert_eq!(value["error"]["kind"], "docker");
        assert_eq!(
            value["error"]["message"],
            "cannot reach Docker: \"start it\"\n then retry"
        );
    }
}
