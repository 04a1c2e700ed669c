//! What the application may do, as far as the client can tell before it writes: the
//! application permissions its access token says were granted, or, for a token that cannot be
//! read, cheap reads that stand for the operations a flow will call.
//!
//! App-only tokens for Microsoft Graph are in practice JWTs whose `roles` claim lists the
//! application permissions granted (and has no `roles` at all when none is), but Microsoft
//! warns that tokens for its own APIs "might not always be a JWT that can be decoded" (they may
//! be encrypted, or of another shape). So the claims are read only to describe the operator to
//! itself (the permission preflight, `reconcile::preflight`): the token is not validated, never
//! trusted for anything else, and never logged nor repeated in an error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::client::{GraphClient, ListQuery};
use super::error::{ErrorCategory, GraphError, Operation};
use super::groups::DirectoryObject;

/// The application permissions an access token says were granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grants {
    /// A JWT whose claims could be read: its `roles`, sorted (empty: no `roles` claim, so
    /// nothing was granted).
    Known(Vec<String>),
    /// Not a JWT whose claims can be read (opaque, encrypted, or of an unknown shape).
    Unreadable,
}

impl Grants {
    /// What `token` says of itself. Only the payload is decoded; nothing is verified.
    pub fn of_token(token: &str) -> Grants {
        let mut parts = token.trim().split('.');
        // A JWS has three parts; an encrypted token (JWE) five, and its claims are sealed.
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Grants::Unreadable;
        };
        let claims = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
        let Some(Value::Object(claims)) = claims else {
            return Grants::Unreadable;
        };
        match claims.get("roles") {
            None | Some(Value::Null) => Grants::Known(Vec::new()),
            Some(Value::Array(roles)) => {
                let mut names = Vec::with_capacity(roles.len());
                for role in roles {
                    match role.as_str() {
                        Some(r) => names.push(r.to_string()),
                        None => return Grants::Unreadable,
                    }
                }
                names.sort_unstable();
                names.dedup();
                Grants::Known(names)
            }
            Some(_) => Grants::Unreadable,
        }
    }
}

/// What a cheap read says of an operation's permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probed {
    /// Graph answered the read: the application holds one of the permissions that allow it.
    Allowed,
    /// Graph refused it (403): none of them is granted.
    Refused,
    /// No read tells (a write, or an answer that is neither).
    Unknown,
}

/// Cheap reads standing for a flow's read operations (`$top=1` on the lists it will use, the
/// organization, the first object's members, owners or Source of Authority), for a token whose
/// grants cannot be read. Writes cannot be known from reads: they are [`Probed::Unknown`].
pub struct Prober<'a> {
    graph: &'a GraphClient,
    /// The first user's and group's ids, once read (`None` inside: there is none, or the
    /// list could not be read).
    user: Option<Option<String>>,
    group: Option<Option<String>>,
}

impl<'a> Prober<'a> {
    /// A prober reading through `graph`.
    pub fn new(graph: &'a GraphClient) -> Self {
        Prober {
            graph,
            user: None,
            group: None,
        }
    }

    /// One cheap read for `op`. `Err`: Graph failed in a way that says nothing of the
    /// permission (throttled, unavailable, the credentials refused).
    pub async fn probe(&mut self, op: Operation) -> Result<Probed, GraphError> {
        use Operation as Op;
        let answer = match op {
            Op::GetOrganization => self.graph.organization().await.map(drop),
            Op::ListUsers | Op::GetUser | Op::UsersDelta => {
                self.first(Op::ListUsers, "users").await.map(drop)
            }
            Op::ListDeletedUsers => self
                .first(op, "directory/deletedItems/microsoft.graph.user")
                .await
                .map(drop),
            Op::ListGroups | Op::GetGroup | Op::GroupsDelta => {
                self.first(Op::ListGroups, "groups").await.map(drop)
            }
            Op::ListGroupMembers | Op::ListGroupOwners | Op::GetGroupSyncBehavior => {
                let Some(id) = self.sample_group().await? else {
                    return Ok(Probed::Unknown);
                };
                match op {
                    Op::ListGroupMembers => first_page(self.graph.group_member_ids(&id)).await,
                    Op::ListGroupOwners => first_page(self.graph.group_owner_ids(&id)).await,
                    _ => self.graph.group_cloud_managed(&id).await.map(drop),
                }
            }
            Op::GetSyncBehavior => {
                let Some(id) = self.sample_user().await? else {
                    return Ok(Probed::Unknown);
                };
                self.graph.user_cloud_managed(&id).await.map(drop)
            }
            _ => return Ok(Probed::Unknown),
        };
        match answer {
            Ok(()) => Ok(Probed::Allowed),
            Err(e) => judge(e),
        }
    }

    /// The first object of a list (`$top=1`, ids only).
    async fn first(&self, op: Operation, path: &str) -> Result<Option<String>, GraphError> {
        let query = ListQuery {
            select: vec!["id".into()],
            top: Some(1),
            ..ListQuery::default()
        };
        let mut pager = self.graph.pager::<DirectoryObject>(op, path, &query)?;
        Ok(pager
            .next_page()
            .await?
            .and_then(|p| p.items.into_iter().next())
            .map(|o| o.id))
    }

    async fn sample_user(&mut self) -> Result<Option<String>, GraphError> {
        if self.user.is_none() {
            self.user = Some(sample(self.first(Operation::ListUsers, "users").await)?);
        }
        Ok(self.user.clone().flatten())
    }

    async fn sample_group(&mut self) -> Result<Option<String>, GraphError> {
        if self.group.is_none() {
            self.group = Some(sample(self.first(Operation::ListGroups, "groups").await)?);
        }
        Ok(self.group.clone().flatten())
    }
}

/// A sample object's id; a list refused or answered oddly has none (its own probe says why).
fn sample(read: Result<Option<String>, GraphError>) -> Result<Option<String>, GraphError> {
    match read {
        Ok(id) => Ok(id),
        Err(e) => judge(e).map(|_| None),
    }
}

async fn first_page(
    pager: Result<super::client::Pager<DirectoryObject>, GraphError>,
) -> Result<(), GraphError> {
    pager?.next_page().await.map(drop)
}

/// A failed probe: a refusal says the permission is missing; an object Graph will not show or
/// a request it rejects (404, 400) says nothing either way; anything else (throttled,
/// unavailable, the credentials refused) is the caller's to handle.
fn judge(e: GraphError) -> Result<Probed, GraphError> {
    match e.category() {
        _ if matches!(e, GraphError::Auth(_)) => Err(e),
        ErrorCategory::MissingPermission => Ok(Probed::Refused),
        ErrorCategory::NotFound | ErrorCategory::Rejected => Ok(Probed::Unknown),
        _ => Err(e),
    }
}

impl GraphClient {
    /// The application permissions the access token in use says were granted (its `roles`
    /// claim), for the permission preflight only: the token is not validated, and nothing
    /// else may rest on its claims.
    pub async fn granted_permissions(&self) -> Result<Grants, GraphError> {
        let token = self.inner.tokens.token().await?;
        Ok(Grants::of_token(token.expose()))
    }

    /// The same, from a newly issued token: a grant an administrator made since the cached
    /// token was issued shows only in a new one.
    pub async fn renewed_permissions(&self) -> Result<Grants, GraphError> {
        self.inner.tokens.invalidate().await;
        self.granted_permissions().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn roles_are_read_from_a_jwt_and_anything_else_is_unreadable() {
        assert_eq!(
            Grants::of_token(&jwt(
                r#"{"aud":"https://graph.microsoft.com","roles":["User.Read.All","Group.ReadWrite.All"]}"#
            )),
            Grants::Known(vec!["Group.ReadWrite.All".into(), "User.Read.All".into()])
        );
        // Graph leaves `roles` out when nothing is granted.
        assert_eq!(
            Grants::of_token(&jwt(r#"{"idtyp":"app"}"#)),
            Grants::Known(Vec::new())
        );
        for unreadable in [
            "3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
            "a.b.c.d.e".into(),
            jwt(r#"{"roles":"User.Read.All"}"#),
            jwt(r#"{"roles":[1]}"#),
            jwt("[]"),
            format!("{}.not-base64!.x", URL_SAFE_NO_PAD.encode("{}")),
            String::new(),
        ] {
            assert_eq!(
                Grants::of_token(&unreadable),
                Grants::Unreadable,
                "{unreadable}"
            );
        }
    }
}
