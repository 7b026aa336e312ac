//! The language of the web pages: French first, English on request (`?lang=en`, or an
//! `Accept-Language` that prefers English), and every sentence the identity pages show, in
//! both languages, as one [`Texts`] table per language.

use axum::http::header;
use axum::http::request::Parts;

/// A language of the web interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Français (the default).
    #[default]
    Fr,
    /// English.
    En,
}

impl Lang {
    /// The `lang` attribute value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The sentences of this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Fr => &FR,
            Lang::En => &EN,
        }
    }

    /// The language of a request: `?lang=fr|en` first, then the preferred of French and
    /// English in `Accept-Language` (by q-value, then order), French by default.
    pub fn of(parts: &Parts) -> Lang {
        if let Some(q) = parts.uri.query() {
            for pair in q.split('&') {
                match pair {
                    "lang=en" => return Lang::En,
                    "lang=fr" => return Lang::Fr,
                    _ => {}
                }
            }
        }
        parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(Lang::from_accept_language)
            .unwrap_or_default()
    }

    /// The preferred of French and English in an `Accept-Language` value.
    pub fn from_accept_language(value: &str) -> Lang {
        let mut best: Option<(u32, Lang)> = None;
        for item in value.split(',').take(32) {
            let mut fields = item.split(';');
            let tag = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let lang = match tag.split('-').next() {
                Some("fr") => Lang::Fr,
                Some("en") => Lang::En,
                _ => continue,
            };
            let q = fields
                .filter_map(|f| f.trim().strip_prefix("q="))
                .filter_map(|q| q.parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u32;
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }
}

/// Every sentence of the identity pages and the layout.
#[derive(Debug)]
pub struct Texts {
    /// Name of the service.
    pub app_name: &'static str,
    /// Skip link.
    pub skip_to_content: &'static str,
    /// Signed in as.
    pub signed_in_as: &'static str,
    /// Log out button.
    pub logout: &'static str,
    /// Footer.
    pub footer: &'static str,
    /// Login page title.
    pub login_title: &'static str,
    /// Username label.
    pub username: &'static str,
    /// Password label.
    pub password: &'static str,
    /// TOTP code label.
    pub code: &'static str,
    /// TOTP code hint.
    pub code_hint: &'static str,
    /// Login button.
    pub login_button: &'static str,
    /// The one answer to every failed login.
    pub login_failed: &'static str,
    /// What a lockout is.
    pub lockout_policy: &'static str,
    /// After enrolment.
    pub enrolled_notice: &'static str,
    /// After logout.
    pub logged_out_notice: &'static str,
    /// Enrolment page title.
    pub enrol_title: &'static str,
    /// Enrolment intro, with its colon (the account follows).
    pub enrol_intro: &'static str,
    /// Step 1 heading.
    pub enrol_step_password: &'static str,
    /// Password rule.
    pub password_rule: &'static str,
    /// Confirm password label.
    pub password_confirm: &'static str,
    /// Step 2 heading.
    pub enrol_step_totp: &'static str,
    /// How to enrol TOTP.
    pub enrol_totp_help: &'static str,
    /// Label of the base32 secret.
    pub enrol_secret_label: &'static str,
    /// QR code description.
    pub qr_alt: &'static str,
    /// Step 3 heading.
    pub enrol_step_confirm: &'static str,
    /// Enrol button.
    pub enrol_button: &'static str,
    /// Password too short.
    pub err_password_too_short: &'static str,
    /// Password too long.
    pub err_password_too_long: &'static str,
    /// Passwords differ.
    pub err_passwords_differ: &'static str,
    /// Wrong code.
    pub err_bad_code: &'static str,
    /// Link unusable.
    pub link_invalid_title: &'static str,
    /// Link unusable, explained.
    pub link_invalid: &'static str,
    /// Home page title.
    pub home_title: &'static str,
    /// Role label.
    pub role_label: &'static str,
    /// Organisation label.
    pub org_label: &'static str,
    /// Inbox link.
    pub inbox_link: &'static str,
    /// Session end notice.
    pub session_notice: &'static str,
    /// Forbidden page title.
    pub forbidden_title: &'static str,
    /// Forbidden page text (missing or wrong form token).
    pub forbidden_form: &'static str,
    /// Error page title.
    pub error_title: &'static str,
    /// Error page text.
    pub error_text: &'static str,
    /// Link back to the login page.
    pub back_to_login: &'static str,
}

/// Français.
pub static FR: Texts = Texts {
    app_name: "Passerelle",
    skip_to_content: "Aller au contenu",
    signed_in_as: "Connecté·e en tant que",
    logout: "Se déconnecter",
    footer: "Passerelle — transmission sécurisée entre partenaires. Chaque accès est journalisé.",
    login_title: "Connexion",
    username: "Identifiant",
    password: "Mot de passe",
    code: "Code de l’application d’authentification",
    code_hint: "6 chiffres, renouvelés toutes les 30 secondes.",
    login_button: "Se connecter",
    login_failed: "Identifiant ou mot de passe incorrect.",
    lockout_policy: "Après 5 échecs de suite, le compte est bloqué 15 minutes.",
    enrolled_notice: "Votre compte est prêt : connectez-vous avec votre mot de passe et un code.",
    logged_out_notice: "Vous êtes déconnecté·e.",
    enrol_title: "Activer votre compte",
    enrol_intro: "Compte\u{a0}:",
    enrol_step_password: "1. Choisissez un mot de passe",
    password_rule: "Au moins 12 caractères. Une phrase de plusieurs mots est plus facile à retenir.",
    password_confirm: "Mot de passe (à nouveau)",
    enrol_step_totp: "2. Ajoutez le compte à votre application d’authentification",
    enrol_totp_help: "Scannez ce code QR avec votre application (FreeOTP, Aegis, Google Authenticator…), ou saisissez la clé ci-dessous.",
    enrol_secret_label: "Clé à saisir\u{a0}:",
    qr_alt: "Code QR de la clé d’authentification",
    enrol_step_confirm: "3. Confirmez avec le code affiché par l’application",
    enrol_button: "Activer le compte",
    err_password_too_short: "Le mot de passe doit comporter au moins 12 caractères.",
    err_password_too_long: "Le mot de passe est trop long.",
    err_passwords_differ: "Les deux mots de passe ne sont pas identiques.",
    err_bad_code: "Code incorrect : vérifiez l’heure du téléphone et saisissez le code actuel.",
    link_invalid_title: "Lien inutilisable",
    link_invalid: "Ce lien d’activation n’existe pas, a déjà servi ou a expiré. Demandez-en un nouveau à votre coordinatrice ou à l’administration.",
    home_title: "Accueil",
    role_label: "Rôle",
    org_label: "Organisation",
    inbox_link: "Ouvrir la boîte de réception",
    session_notice: "La session se ferme après 15 minutes d’inactivité, et au plus tard 12 heures après la connexion.",
    forbidden_title: "Action refusée",
    forbidden_form: "Ce formulaire a expiré ou ne vient pas de Passerelle. Rechargez la page et recommencez.",
    error_title: "Erreur",
    error_text: "Une erreur est survenue ; rien n’a été enregistré. Réessayez dans un instant.",
    back_to_login: "Retour à la connexion",
};

/// English.
pub static EN: Texts = Texts {
    app_name: "Passerelle",
    skip_to_content: "Skip to content",
    signed_in_as: "Signed in as",
    logout: "Log out",
    footer: "Passerelle — secure hand-off between partners. Every access is logged.",
    login_title: "Log in",
    username: "Username",
    password: "Password",
    code: "Authenticator app code",
    code_hint: "6 digits, renewed every 30 seconds.",
    login_button: "Log in",
    login_failed: "Wrong username or password.",
    lockout_policy: "After 5 failures in a row, the account is locked for 15 minutes.",
    enrolled_notice: "Your account is ready: log in with your password and a code.",
    logged_out_notice: "You are logged out.",
    enrol_title: "Activate your account",
    enrol_intro: "Account:",
    enrol_step_password: "1. Choose a password",
    password_rule: "At least 12 characters. A phrase of several words is easier to remember.",
    password_confirm: "Password (again)",
    enrol_step_totp: "2. Add the account to your authenticator app",
    enrol_totp_help: "Scan this QR code with your app (FreeOTP, Aegis, Google Authenticator…), or type the key below.",
    enrol_secret_label: "Key to type:",
    qr_alt: "QR code of the authentication key",
    enrol_step_confirm: "3. Confirm with the code the app shows",
    enrol_button: "Activate the account",
    err_password_too_short: "The password must have at least 12 characters.",
    err_password_too_long: "The password is too long.",
    err_passwords_differ: "The two passwords differ.",
    err_bad_code: "Wrong code: check the phone's clock and type the current code.",
    link_invalid_title: "Unusable link",
    link_invalid: "This activation link does not exist, was already used or has expired. Ask your coordinator or the administrators for a new one.",
    home_title: "Home",
    role_label: "Role",
    org_label: "Organisation",
    inbox_link: "Open the inbox",
    session_notice: "The session closes after 15 minutes without activity, and at the latest 12 hours after login.",
    forbidden_title: "Action refused",
    forbidden_form: "This form has expired or does not come from Passerelle. Reload the page and try again.",
    error_title: "Error",
    error_text: "Something went wrong; nothing was saved. Try again in a moment.",
    back_to_login: "Back to the login page",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_by_quality() {
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"),
            Lang::Fr
        );
        assert_eq!(Lang::from_accept_language("de,en;q=0.5,fr;q=0.7"), Lang::Fr);
        assert_eq!(Lang::from_accept_language("de,en;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("de"), Lang::Fr);
        assert_eq!(Lang::from_accept_language("en;q=0"), Lang::Fr);
        assert_eq!(Lang::from_accept_language(""), Lang::Fr);
    }
}
