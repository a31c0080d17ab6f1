//! Inputs the fuzz targets (fuzz/) found that the parsers mishandled, where no unit test beside
//! the parser has room for them.

use voicegate::ovos::bus::BusMessage;

/// Found by the `ovos_bus` target: a JSON array (`["{"]`) was read as a bus message, its items
/// taken for `type`, `data` and `context` in turn. Only an object is a message.
#[test]
fn only_a_json_object_is_a_bus_message() {
    for frame in [
        r#"["{"]"#,
        "[\"{\"\r]",
        r#"["speak",{"utterance":"hi"},{}]"#,
        "7",
        "\"speak\"",
    ] {
        assert_eq!(BusMessage::from_frame(frame), None, "{frame}");
    }
    let message =
        BusMessage::from_frame(" \r\n{\"type\":\"speak\",\"data\":{\"utterance\":\"hi\"}}")
            .expect("an object with a type is a message");
    assert_eq!(message.msg_type, "speak");
    assert_eq!(message.data["utterance"], "hi");
    assert!(message.context.is_null());
}
