//! Organizational contacts (`orgContact`, `/contacts`): mail contacts synchronised from AD (or
//! made in Exchange Online), read-only in Graph except for their Source of Authority.

use serde_json::{Map, Value, json};

use super::{Kind, SyncInfo, Writes, into_map, ts};

/// An organizational contact.
#[derive(Debug, Clone)]
pub struct Contact {
    /// Object id (lowercase GUID).
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// `givenName`.
    pub given_name: Option<String>,
    /// `surname`.
    pub surname: Option<String>,
    /// `mail`: the external SMTP address.
    pub mail: Option<String>,
    /// `mailNickname`.
    pub mail_nickname: Option<String>,
    /// `companyName`.
    pub company_name: Option<String>,
    /// `proxyAddresses` (`SMTP:` primary first).
    pub proxy_addresses: Vec<String>,
    /// Synchronisation status; the AD twin holds the contact's distinguished name.
    pub sync: SyncInfo,
    /// Emulator tag: `synced` or `cloudOnly`.
    pub kind: Kind,
    /// Accepted writes (only Source of Authority switches exist for contacts).
    pub writes: Writes,
}

impl Contact {
    /// Every Graph property of the contact (Graph returns them all without `$select`).
    pub fn to_json(&self) -> Map<String, Value> {
        let obj = json!({
            "id": self.id,
            "displayName": self.display_name,
            "givenName": self.given_name,
            "surname": self.surname,
            "mail": self.mail,
            "mailNickname": self.mail_nickname,
            "companyName": self.company_name,
            "department": Value::Null,
            "jobTitle": Value::Null,
            "addresses": [],
            "phones": [],
            "proxyAddresses": self.proxy_addresses,
            "onPremisesSyncEnabled": self.sync.enabled,
            "onPremisesLastSyncDateTime": ts(self.sync.last_sync),
            "onPremisesProvisioningErrors": [],
            "serviceProvisioningErrors": [],
            "deletedDateTime": Value::Null,
        });
        into_map(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_sync_values_graph_shows() {
        let mut c = Contact {
            id: "c1".into(),
            display_name: "Eric Solomon".into(),
            given_name: Some("Eric".into()),
            surname: Some("Solomon".into()),
            mail: Some("erics@fabrikam.com".into()),
            mail_nickname: Some("erics".into()),
            company_name: Some("Fabrikam".into()),
            proxy_addresses: vec!["SMTP:erics@fabrikam.com".into()],
            sync: SyncInfo {
                enabled: Some(true),
                last_sync: "2026-01-02T03:04:05Z".parse().ok(),
                ..SyncInfo::default()
            },
            kind: Kind::Synced,
            writes: Writes::default(),
        };
        let j = c.to_json();
        assert_eq!(j["onPremisesSyncEnabled"], json!(true));
        assert_eq!(
            j["onPremisesLastSyncDateTime"],
            json!("2026-01-02T03:04:05Z")
        );
        assert_eq!(j["proxyAddresses"], json!(["SMTP:erics@fabrikam.com"]));
        assert_eq!(j["companyName"], json!("Fabrikam"));
        c.sync.enabled = None;
        assert_eq!(c.to_json()["onPremisesSyncEnabled"], Value::Null);
    }
}
