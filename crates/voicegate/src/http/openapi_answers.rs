//! The error answers every route of a kind gives, documented once rather than on each route: the
//! credential check (401 on every protected route; 403 where the route names a scope) and the
//! extractors (400 when a query or a JSON body cannot be read). A route that documents one of
//! these itself keeps its own description.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use crate::http::openapi::BEARER;

/// Adds the shared error answers to every operation of `document`.
pub fn add_shared_answers(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            add_to(operation);
        }
    }
}

fn add_to(operation: &mut Operation) {
    let requirements = serde_json::to_value(&operation.security).unwrap_or_default();
    let schemes: Vec<(String, usize)> = requirements
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_object())
        .flat_map(|r| r.iter())
        .map(|(scheme, scopes)| (scheme.clone(), scopes.as_array().map_or(0, Vec::len)))
        .collect();
    if !schemes.is_empty() {
        insert(
            operation,
            401,
            "No credential, or one that is invalid, expired or revoked",
        );
    }
    if schemes
        .iter()
        .any(|(scheme, scopes)| scheme == BEARER && *scopes > 0)
    {
        insert(operation, 403, "The credential lacks the route's scope");
    }
    let query =
        operation.parameters.iter().flatten().any(
            |parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Query),
        );
    let json_body = matches!(&operation.request_body,
        Some(RefOr::T(body)) if body.content.contains_key("application/json"));
    if query || json_body {
        insert(
            operation,
            400,
            "A query parameter or the body cannot be read (the detail names it)",
        );
    }
}

/// Documents `status` with the error body, unless the route documents it already.
fn insert(operation: &mut Operation, status: u16, description: &str) {
    let error = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", error)
                    .build(),
            )
        });
}
