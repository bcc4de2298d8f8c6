//! Secret scopes: no tags and no object permissions — the state record names the scopes tandem
//! created, and ACLs say who may use them. Their secrets and ACLs are planned one by one.

use super::{KindSpec, whole_object};
use crate::model::Kind;

/// What tandem knows of secret scopes.
pub const SPEC: KindSpec = KindSpec {
    kind: Kind::SecretScopes,
    singular: "secret scope",
    counted: ("secret scope", "secret scopes"),
    hcl_block: "secret_scope",
    tags_field: None,
    id_field: "scope",
    name_field: "name",
    numeric_id: false,
    editable: None,
    permissions_type: None,
    permission_levels: &[],
    schema: include_str!("../../schemas/secret_scope.schema.json"),
    drop_own_defaults: super::no_own_defaults,
    edit_body: whole_object,
    role_fields: &[],
};
