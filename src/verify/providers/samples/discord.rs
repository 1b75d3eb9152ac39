//! Discord interactions (PING, type 1, is the handshake hookgate answers itself).

pub const ALL: &[(&str, &str)] = &[
    (
        "application_command",
        r#"{"app_permissions":"442368","application_id":"1161371938301833256","channel_id":"1161371987865931796","data":{"id":"1161372211007348756","name":"hello","type":1,"options":[{"name":"text","type":3,"value":"world"}]},"guild_id":"1161371987865931793","id":"{id}","locale":"en-US","member":{"user":{"id":"53908232506183680","username":"mason","global_name":"Mason"}},"token":"aW50ZXJhY3Rpb246{id}","type":2,"version":1}"#,
    ),
    (
        "message_component",
        r#"{"application_id":"1161371938301833256","channel_id":"1161371987865931796","data":{"component_type":2,"custom_id":"confirm_button"},"guild_id":"1161371987865931793","id":"{id}","message":{"id":"1302230187361173590","content":"Are you sure?"},"member":{"user":{"id":"53908232506183680","username":"mason"}},"token":"aW50ZXJhY3Rpb246{id}","type":3,"version":1}"#,
    ),
    (
        "modal_submit",
        r#"{"application_id":"1161371938301833256","channel_id":"1161371987865931796","data":{"custom_id":"feedback_modal","components":[{"type":1,"components":[{"type":4,"custom_id":"feedback","value":"Great bot!"}]}]},"guild_id":"1161371987865931793","id":"{id}","member":{"user":{"id":"53908232506183680","username":"mason"}},"token":"aW50ZXJhY3Rpb246{id}","type":5,"version":1}"#,
    ),
];
