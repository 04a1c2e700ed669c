//! Registered applications, as Entra app registrations: a client id, a display name, client
//! secrets, certificates (key credentials), federated identity credentials and the application
//! permissions granted to it (graph-api.md §0, §10).
//!
//! The default application comes from [`EmulatorConfig`] (`client_id`, `client_secret`,
//! `permissions`, `certificates`, `federated_credentials`); more come from
//! [`EmulatorConfig::apps`], `--apps` or `POST /_emulator/apps`. Secrets never leave the
//! registry: `Debug` and the JSON view show how many there are, never their values.

mod keys;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::EmulatorConfig;

pub use keys::{Certificate, SignatureAlg, SigningKey, hex_upper};

/// Default audience of a federated identity credential (the global cloud's; US Government
/// clouds use `api://AzureADTokenExchangeUSGov`, China `api://AzureADTokenExchangeChina`).
pub const DEFAULT_FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Entra allows at most 20 federated identity credentials per application.
pub const MAX_FEDERATED_CREDENTIALS: usize = 20;
/// Registry bound (memory), far above what a rehearsal needs.
pub const MAX_APPS: usize = 1_000;

/// An application to register (`POST /_emulator/apps`, `--apps`, [`EmulatorConfig::apps`]).
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppRegistration {
    /// Application (client) id; a random GUID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Client secret values.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// PEM certificates (key credentials) whose private keys may sign client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Federated identity credentials.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredentialSpec>,
    /// Application permissions granted (e.g. `User.Read.All`).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// Shows how many secrets there are, never their values.
impl std::fmt::Debug for AppRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRegistration")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("secrets", &self.secrets.len())
            .field("certificates", &self.certificates.len())
            .field("federated_credentials", &self.federated_credentials)
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// A federated identity credential to register: which external tokens the application trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredentialSpec {
    /// Name (unique per application); generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The external issuer (`iss`), e.g. a cluster's OIDC issuer URL; matched exactly.
    pub issuer: String,
    /// The subject (`sub`), e.g. `system:serviceaccount:<namespace>:<name>`; matched exactly.
    pub subject: String,
    /// Accepted audiences (`aud`); default `api://AzureADTokenExchange`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The issuer's signing key (PEM `PUBLIC KEY` or `CERTIFICATE`): the emulator cannot
    /// fetch the issuer's keys, so without one it checks the claims only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

struct Secret {
    key_id: String,
    value: String,
}

/// A certificate registered on an application.
#[derive(Debug, Clone)]
pub struct KeyCredential {
    /// `keyId`.
    pub key_id: String,
    /// The certificate.
    pub certificate: Certificate,
}

/// A federated identity credential of an application.
#[derive(Debug, Clone)]
pub struct FederatedCredential {
    /// `name`.
    pub name: String,
    /// `issuer`.
    pub issuer: String,
    /// `subject`.
    pub subject: String,
    /// `audiences`.
    pub audiences: Vec<String>,
    /// The issuer's signing key, when given.
    pub signing_key: Option<SigningKey>,
}

/// A registered application.
pub struct App {
    /// Application (client) id.
    pub client_id: String,
    /// Display name.
    pub display_name: String,
    secrets: Vec<Secret>,
    /// Certificates.
    pub certificates: Vec<KeyCredential>,
    /// Federated identity credentials.
    pub federated: Vec<FederatedCredential>,
    /// Application permissions granted (changeable at run time).
    pub permissions: Vec<String>,
}

/// Redacts the secrets.
impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("secrets", &self.secrets.len())
            .field("certificates", &self.certificates)
            .field("federated", &self.federated)
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// Compares without an early exit, so timing tells nothing about the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

impl App {
    /// Validates a registration. Errors name the field (`certificates[1]: …`).
    pub fn from_registration(reg: AppRegistration) -> Result<App, String> {
        let client_id = reg.client_id.unwrap_or_else(crate::guid::random);
        if !valid_client_id(&client_id) {
            return Err(format!(
                "clientId {client_id:?} must be 1 to 100 letters, digits, '-', '.' or '_'"
            ));
        }
        if reg.secrets.iter().any(|s| s.is_empty()) {
            return Err("secrets: a secret must not be empty".into());
        }
        let mut certificates = Vec::with_capacity(reg.certificates.len());
        for (i, pem) in reg.certificates.iter().enumerate() {
            let certificate =
                Certificate::from_pem(pem).map_err(|e| format!("certificates[{i}]: {e}"))?;
            certificates.push(KeyCredential {
                key_id: crate::guid::random(),
                certificate,
            });
        }
        if reg.federated_credentials.len() > MAX_FEDERATED_CREDENTIALS {
            return Err(format!(
                "federatedCredentials: at most {MAX_FEDERATED_CREDENTIALS} per application"
            ));
        }
        let mut federated: Vec<FederatedCredential> = Vec::new();
        for (i, spec) in reg.federated_credentials.into_iter().enumerate() {
            let fc = federated_credential(i, spec)?;
            if federated.iter().any(|f| f.name == fc.name) {
                return Err(format!(
                    "federatedCredentials[{i}]: name {:?} is used twice",
                    fc.name
                ));
            }
            federated.push(fc);
        }
        Ok(App {
            display_name: reg
                .display_name
                .unwrap_or_else(|| format!("Emulated application {client_id}")),
            client_id,
            secrets: reg
                .secrets
                .into_iter()
                .map(|value| Secret {
                    key_id: crate::guid::random(),
                    value,
                })
                .collect(),
            certificates,
            federated,
            permissions: clean_permissions(reg.permissions),
        })
    }

    /// Whether `presented` is one of the application's secrets.
    pub fn secret_matches(&self, presented: &str) -> bool {
        // Compare with every secret, so timing does not tell which one matched.
        self.secrets.iter().fold(false, |found, s| {
            constant_time_eq(presented.as_bytes(), s.value.as_bytes()) | found
        })
    }

    /// The certificate a client assertion's header names: `x5t#S256` first, then `x5t`.
    pub fn certificate(&self, x5t_s256: Option<&str>, x5t: Option<&str>) -> Option<&KeyCredential> {
        let trim = |s: &str| s.trim_end_matches('=').to_string();
        let (s256, s1) = (x5t_s256.map(trim), x5t.map(trim));
        self.certificates.iter().find(|k| {
            s256.as_deref() == Some(k.certificate.x5t_s256())
                || (s256.is_none() && s1.as_deref() == Some(k.certificate.x5t()))
        })
    }

    /// The federated credential matching an external token's issuer, subject and audiences.
    pub fn federated_match(
        &self,
        issuer: &str,
        subject: &str,
        audiences: &[String],
    ) -> Option<&FederatedCredential> {
        self.federated.iter().find(|f| {
            f.issuer == issuer
                && f.subject == subject
                && audiences.iter().any(|a| f.audiences.contains(a))
        })
    }

    /// The control view: Graph's names, never a secret value.
    pub fn to_json(&self, default: bool) -> Value {
        let passwords: Vec<Value> = self
            .secrets
            .iter()
            .map(|s| json!({ "keyId": s.key_id }))
            .collect();
        let keys: Vec<Value> = self
            .certificates
            .iter()
            .map(|k| {
                json!({
                    "keyId": k.key_id,
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                    "customKeyIdentifier": k.certificate.thumbprint(),
                    "x5t": k.certificate.x5t(),
                    "x5t#S256": k.certificate.x5t_s256(),
                })
            })
            .collect();
        let federated: Vec<Value> = self
            .federated
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "issuer": f.issuer,
                    "subject": f.subject,
                    "audiences": f.audiences,
                    "signingKey": f.signing_key.as_ref().map(SigningKey::kind),
                })
            })
            .collect();
        json!({
            "clientId": self.client_id,
            "displayName": self.display_name,
            "default": default,
            "passwordCredentials": passwords,
            "keyCredentials": keys,
            "federatedIdentityCredentials": federated,
            "permissions": self.permissions,
        })
    }
}

fn federated_credential(
    i: usize,
    spec: FederatedCredentialSpec,
) -> Result<FederatedCredential, String> {
    let field = |name: &str| format!("federatedCredentials[{i}].{name}");
    if spec.issuer.trim().is_empty() {
        return Err(format!("{} is required", field("issuer")));
    }
    if spec.subject.trim().is_empty() {
        return Err(format!("{} is required", field("subject")));
    }
    if spec.audiences.iter().any(|a| a.trim().is_empty()) {
        return Err(format!(
            "{}: an audience must not be empty",
            field("audiences")
        ));
    }
    let signing_key = spec
        .signing_key
        .as_deref()
        .map(SigningKey::from_pem)
        .transpose()
        .map_err(|e| format!("{}: {e}", field("signingKey")))?;
    let audiences = if spec.audiences.is_empty() {
        vec![DEFAULT_FEDERATED_AUDIENCE.to_string()]
    } else {
        spec.audiences
    };
    Ok(FederatedCredential {
        name: spec.name.unwrap_or_else(|| format!("federated-{i}")),
        issuer: spec.issuer,
        subject: spec.subject,
        audiences,
        signing_key,
    })
}

fn clean_permissions(permissions: Vec<String>) -> Vec<String> {
    permissions
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// The registration is invalid (400).
    Invalid(String),
    /// The client id is taken (409).
    Conflict(String),
}

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterError::Invalid(m) | RegisterError::Conflict(m) => f.write_str(m),
        }
    }
}

/// Every registered application; the default one always exists.
#[derive(Debug)]
pub struct Apps {
    default: App,
    others: BTreeMap<String, App>,
}

impl Apps {
    /// The default application and the extra ones of `config`.
    pub fn from_config(config: &EmulatorConfig) -> Result<Apps, RegisterError> {
        let default = App::from_registration(AppRegistration {
            client_id: Some(config.client_id.clone()),
            display_name: Some("entra-cloud-operator (emulator default application)".into()),
            secrets: vec![config.client_secret.clone()],
            certificates: config.certificates.clone(),
            federated_credentials: config.federated_credentials.clone(),
            permissions: config.permissions.clone(),
        })
        .map_err(|e| RegisterError::Invalid(format!("the default application: {e}")))?;
        let mut apps = Apps {
            default,
            others: BTreeMap::new(),
        };
        for (i, reg) in config.apps.iter().enumerate() {
            apps.register(reg.clone()).map_err(|e| match e {
                RegisterError::Invalid(m) => RegisterError::Invalid(format!("apps[{i}]: {m}")),
                RegisterError::Conflict(m) => RegisterError::Conflict(format!("apps[{i}]: {m}")),
            })?;
        }
        Ok(apps)
    }

    /// The application with this client id (case-insensitive).
    pub fn get(&self, client_id: &str) -> Option<&App> {
        if self.default.client_id.eq_ignore_ascii_case(client_id) {
            return Some(&self.default);
        }
        self.others.get(&client_id.to_ascii_lowercase())
    }

    /// The application with this client id, to change it.
    pub fn get_mut(&mut self, client_id: &str) -> Option<&mut App> {
        if self.default.client_id.eq_ignore_ascii_case(client_id) {
            return Some(&mut self.default);
        }
        self.others.get_mut(&client_id.to_ascii_lowercase())
    }

    /// The default application (the one of `--client-id`).
    pub fn default_app(&self) -> &App {
        &self.default
    }

    /// The default application, to change it.
    pub fn default_app_mut(&mut self) -> &mut App {
        &mut self.default
    }

    /// The permissions granted to `client_id` (none for an unknown application).
    pub fn permissions(&self, client_id: &str) -> &[String] {
        self.get(client_id)
            .map_or(&[], |a| a.permissions.as_slice())
    }

    /// Registers an application.
    pub fn register(&mut self, reg: AppRegistration) -> Result<&App, RegisterError> {
        if self.others.len() + 1 >= MAX_APPS {
            return Err(RegisterError::Invalid(format!(
                "at most {MAX_APPS} applications"
            )));
        }
        let app = App::from_registration(reg).map_err(RegisterError::Invalid)?;
        if self.get(&app.client_id).is_some() {
            return Err(RegisterError::Conflict(format!(
                "an application with client id {} is already registered",
                app.client_id
            )));
        }
        tracing::info!(client_id = %app.client_id, certificates = app.certificates.len(),
            federated = app.federated.len(), "application registered");
        let key = app.client_id.to_ascii_lowercase();
        Ok(self.others.entry(key).or_insert(app))
    }

    /// Registers the applications of a tenant file: each replaces a registered application of
    /// the same client id (a reloaded file wins), except the default one, which the command
    /// line configures. Nothing changes unless every one is valid.
    pub fn load(&mut self, regs: &[AppRegistration]) -> Result<(), RegisterError> {
        let mut apps = Vec::with_capacity(regs.len());
        for (i, reg) in regs.iter().enumerate() {
            let app = App::from_registration(reg.clone())
                .map_err(|m| RegisterError::Invalid(format!("apps[{i}]: {m}")))?;
            if self.default.client_id.eq_ignore_ascii_case(&app.client_id) {
                return Err(RegisterError::Conflict(format!(
                    "apps[{i}]: {} is the default application, configured by --client-id and its flags",
                    app.client_id
                )));
            }
            apps.push(app);
        }
        if self.others.len() + apps.len() + 1 > MAX_APPS {
            return Err(RegisterError::Invalid(format!(
                "at most {MAX_APPS} applications"
            )));
        }
        for app in apps {
            tracing::info!(client_id = %app.client_id, "application registered from a tenant file");
            self.others.insert(app.client_id.to_ascii_lowercase(), app);
        }
        Ok(())
    }

    /// `{"value": [...]}`: the default application first.
    pub fn to_json(&self) -> Value {
        let value: Vec<Value> = std::iter::once(self.default.to_json(true))
            .chain(self.others.values().map(|a| a.to_json(false)))
            .collect();
        json!({ "value": value })
    }
}

#[cfg(test)]
mod tests;
