//! The gateway embeds the OpenAPI document instead of the groups' code; it must be the one
//! the code describes.

#[test]
fn the_gateways_openapi_document_is_the_one_the_groups_code_describes() {
    let current = tui_host::openapi_document();
    assert!(
        current.trim_end() == tui_gateway::OPENAPI.trim_end(),
        "functions/gateway/openapi.json is stale; regenerate it with:\n  \
         cargo run -p tui-host -- openapi > functions/gateway/openapi.json"
    );
}
