//! The sentences of the auditor console, the admin pages and the coordinator dashboard, in
//! French and English ([`ConsoleTexts`], one table per language), and the labels of the
//! codes they show (roles, organisation kinds, states, legal bases). Kept apart from
//! [`crate::lang::Texts`] so that each group of pages owns its table.

use time::OffsetDateTime;

use crate::lang::Lang;
use crate::pages::Layout;

/// Every sentence of the console pages.
#[derive(Debug)]
pub struct ConsoleTexts {
    /// Label of the console navigation.
    pub nav_label: &'static str,
    /// Nav: auditor console.
    pub nav_audit: &'static str,
    /// Nav: verification.
    pub nav_verify: &'static str,
    /// Nav: organisations and keys.
    pub nav_admin: &'static str,
    /// Nav: users.
    pub nav_users: &'static str,
    /// Nav: tokens.
    pub nav_tokens: &'static str,
    /// Nav: coordinator dashboard.
    pub nav_coordination: &'static str,

    /// 403 page title.
    pub forbidden_title: &'static str,
    /// 403 page text.
    pub forbidden_role: &'static str,
    /// 404 page title.
    pub not_found_title: &'static str,
    /// 404 page text.
    pub not_found: &'static str,
    /// Link back home.
    pub back_home: &'static str,
    /// A request the service could not understand.
    pub bad_request: &'static str,

    /// Auditor console title.
    pub audit_title: &'static str,
    /// What the console shows.
    pub audit_intro: &'static str,
    /// Search form label.
    pub search_label: &'static str,
    /// Field: case.
    pub f_case: &'static str,
    /// Field: case hint.
    pub f_case_hint: &'static str,
    /// Field: person.
    pub f_actor: &'static str,
    /// Field: organisation.
    pub f_org: &'static str,
    /// Field: action.
    pub f_action: &'static str,
    /// Any action.
    pub any_action: &'static str,
    /// Field: from.
    pub f_since: &'static str,
    /// Field: to.
    pub f_until: &'static str,
    /// Dates hint.
    pub dates_hint: &'static str,
    /// Search button.
    pub search_button: &'static str,
    /// Results heading.
    pub results: &'static str,
    /// No events.
    pub no_events: &'static str,
    /// Next page.
    pub next_page: &'static str,
    /// First page.
    pub first_page: &'static str,
    /// Column: number.
    pub col_seq: &'static str,
    /// Column: time.
    pub col_at: &'static str,
    /// Column: person.
    pub col_actor: &'static str,
    /// Column: organisation.
    pub col_org: &'static str,
    /// Column: role.
    pub col_role: &'static str,
    /// Column: action.
    pub col_action: &'static str,
    /// Column: target.
    pub col_target: &'static str,
    /// Column: case.
    pub col_case: &'static str,
    /// Column: outcome.
    pub col_outcome: &'static str,
    /// Column: legal basis.
    pub col_basis: &'static str,
    /// Outcome: allowed.
    pub allowed: &'static str,
    /// Outcome: refused.
    pub denied: &'static str,
    /// Outcome: unreadable.
    pub unreadable: &'static str,
    /// The system (no actor).
    pub system: &'static str,
    /// Link to a case's access report.
    pub report_link: &'static str,
    /// Bad case id.
    pub err_case: &'static str,
    /// Bad username.
    pub err_actor: &'static str,
    /// Bad organisation slug.
    pub err_org: &'static str,
    /// Bad action.
    pub err_action: &'static str,
    /// Bad date.
    pub err_date: &'static str,
    /// Bad cursor.
    pub err_cursor: &'static str,
    /// Export heading.
    pub export_title: &'static str,
    /// Export explanation.
    pub export_hint: &'static str,
    /// Export button.
    pub export_button: &'static str,

    /// Verification title.
    pub verify_title: &'static str,
    /// Intact.
    pub verify_ok: &'static str,
    /// Not intact.
    pub verify_bad: &'static str,
    /// Entries (head size).
    pub verify_size: &'static str,
    /// Root.
    pub verify_root: &'static str,
    /// Checkpoint folder size.
    pub verify_folder: &'static str,
    /// First bad entry.
    pub verify_first_bad: &'static str,
    /// Problem.
    pub verify_problem: &'static str,
    /// Signed checkpoint heading.
    pub verify_checkpoint: &'static str,
    /// Empty log.
    pub verify_empty: &'static str,
    /// None.
    pub none: &'static str,

    /// Access report title (the case id follows).
    pub report_title: &'static str,
    /// What the report shows.
    pub report_intro: &'static str,
    /// How to print.
    pub report_print: &'static str,
    /// Generated at.
    pub report_generated: &'static str,
    /// No access.
    pub report_empty: &'static str,

    /// Admin title.
    pub admin_title: &'static str,
    /// Organisations heading.
    pub orgs_title: &'static str,
    /// Column: slug.
    pub col_slug: &'static str,
    /// Column: name.
    pub col_name: &'static str,
    /// Column: kind.
    pub col_kind: &'static str,
    /// Column: created.
    pub col_created: &'static str,
    /// New organisation heading.
    pub org_new: &'static str,
    /// Slug hint.
    pub slug_hint: &'static str,
    /// Create button.
    pub org_create: &'static str,
    /// Organisation created.
    pub org_created: &'static str,
    /// Bad slug.
    pub err_slug: &'static str,
    /// Slug taken.
    pub err_slug_taken: &'static str,
    /// Bad name.
    pub err_name: &'static str,
    /// Bad kind.
    pub err_kind: &'static str,
    /// Keys heading.
    pub keys_title: &'static str,
    /// Keys intro.
    pub keys_intro: &'static str,
    /// Current master key version.
    pub keys_current: &'static str,
    /// Master versions heading.
    pub keys_master: &'static str,
    /// Column: version.
    pub col_version: &'static str,
    /// Column: identities wrapped.
    pub col_wrapped: &'static str,
    /// Missing master versions.
    pub keys_missing: &'static str,
    /// Escrow.
    pub keys_escrow: &'static str,
    /// Yes.
    pub yes: &'static str,
    /// No.
    pub no: &'static str,
    /// Organisation identities heading.
    pub keys_orgs: &'static str,
    /// Column: state.
    pub col_state: &'static str,
    /// Column: master key version.
    pub col_kek: &'static str,
    /// Column: referral key wraps.
    pub col_wraps: &'static str,
    /// Unfinished rotations.
    pub keys_pending: &'static str,

    /// Users title.
    pub users_title: &'static str,
    /// Column: username.
    pub col_username: &'static str,
    /// Column: account state.
    pub col_account: &'static str,
    /// Column: actions.
    pub col_manage: &'static str,
    /// Health professional.
    pub health_professional: &'static str,
    /// Enrolled.
    pub enrolled: &'static str,
    /// Waiting for enrolment.
    pub not_enrolled: &'static str,
    /// Disabled.
    pub disabled: &'static str,
    /// Reset button.
    pub reset_button: &'static str,
    /// Disable button.
    pub disable_button: &'static str,
    /// What reset does.
    pub reset_hint: &'static str,
    /// Invite heading.
    pub invite_title: &'static str,
    /// Invite hint.
    pub invite_hint: &'static str,
    /// Invite button.
    pub invite_button: &'static str,
    /// Username hint.
    pub username_hint: &'static str,
    /// Bad username.
    pub err_username: &'static str,
    /// Username taken.
    pub err_username_taken: &'static str,
    /// Role not allowed.
    pub err_role: &'static str,
    /// Unknown organisation.
    pub err_org_unknown: &'static str,
    /// Disabled user.
    pub err_user_disabled: &'static str,
    /// User disabled notice.
    pub user_disabled: &'static str,
    /// Was already disabled.
    pub user_already_disabled: &'static str,
    /// Link page title.
    pub link_title: &'static str,
    /// Link for (the username follows).
    pub link_for: &'static str,
    /// Link rules.
    pub link_once: &'static str,
    /// Expires.
    pub expires: &'static str,
    /// Back to users.
    pub back_users: &'static str,
    /// Back to the dashboard.
    pub back_dashboard: &'static str,

    /// Tokens title.
    pub tokens_title: &'static str,
    /// Tokens intro.
    pub tokens_intro: &'static str,
    /// Show tokens button.
    pub tokens_show: &'static str,
    /// Tokens of (the username follows).
    pub tokens_of: &'static str,
    /// No token.
    pub tokens_none: &'static str,
    /// Column: id.
    pub col_id: &'static str,
    /// Column: expires.
    pub col_expires: &'static str,
    /// Active.
    pub active: &'static str,
    /// Expired.
    pub expired: &'static str,
    /// Revoked.
    pub revoked: &'static str,
    /// Revoke button.
    pub revoke_button: &'static str,
    /// Revoked notice.
    pub token_revoked: &'static str,
    /// Issue heading.
    pub issue_title: &'static str,
    /// Lifetime label.
    pub ttl_label: &'static str,
    /// Lifetime hint.
    pub ttl_hint: &'static str,
    /// Issue button.
    pub issue_button: &'static str,
    /// Bad lifetime.
    pub err_ttl: &'static str,
    /// Unknown user.
    pub err_user_unknown: &'static str,
    /// Token page title.
    pub token_title: &'static str,
    /// Token rules.
    pub token_once: &'static str,

    /// Dashboard title.
    pub dash_title: &'static str,
    /// Dashboard intro.
    pub dash_intro: &'static str,
    /// Received heading.
    pub received: &'static str,
    /// Sent heading.
    pub sent: &'static str,
    /// Total.
    pub total: &'static str,
    /// Overdue.
    pub overdue: &'static str,
    /// Answered.
    pub answered: &'static str,
    /// Median delay.
    pub median: &'static str,
    /// 90th percentile.
    pub p90: &'static str,
    /// Delay explanation.
    pub delay_hint: &'static str,
    /// Column: figure.
    pub col_figure: &'static str,
    /// Column: count.
    pub col_count: &'static str,
    /// Generated at.
    pub computed_at: &'static str,
    /// Users of the organisation heading.
    pub dash_users: &'static str,
    /// Day abbreviation.
    pub unit_day: &'static str,
}

impl Lang {
    /// The sentences of the console pages.
    pub fn console(self) -> &'static ConsoleTexts {
        match self {
            Lang::Fr => &FR,
            Lang::En => &EN,
        }
    }
}

impl Layout {
    /// The console sentences of the page's language (for templates).
    pub fn ct(&self) -> &'static ConsoleTexts {
        self.lang.console()
    }
}

/// The label of a role.
pub fn role(lang: Lang, code: &str) -> String {
    let s = match (lang, code) {
        (Lang::Fr, "referrer") => "orientation (émetteur)",
        (Lang::Fr, "receiver") => "accueil (destinataire)",
        (Lang::Fr, "coordinator") => "coordination",
        (Lang::Fr, "auditor") => "audit",
        (Lang::Fr, "admin") => "administration",
        (Lang::En, "referrer") => "referrer",
        (Lang::En, "receiver") => "receiver",
        (Lang::En, "coordinator") => "coordinator",
        (Lang::En, "auditor") => "auditor",
        (Lang::En, "admin") => "admin",
        _ => code,
    };
    s.to_owned()
}

/// The label of an organisation kind.
pub fn kind(lang: Lang, code: &str) -> String {
    let s = match (lang, code) {
        (Lang::Fr, "police") => "police",
        (Lang::Fr, "gendarmerie") => "gendarmerie",
        (Lang::Fr, "hospital") => "hôpital",
        (Lang::Fr, "association") => "association",
        (Lang::Fr, "centre") => "centre",
        (Lang::Fr, "court") => "tribunal",
        (Lang::Fr, "prosecutor") => "parquet",
        (Lang::Fr, "shelter") => "hébergement",
        _ => code,
    };
    s.to_owned()
}

/// The label of a referral state.
pub fn status(lang: Lang, code: &str) -> String {
    let s = match (lang, code) {
        (Lang::Fr, "sent") => "envoyées",
        (Lang::Fr, "acknowledged") => "ouvertes",
        (Lang::Fr, "accepted") => "acceptées",
        (Lang::Fr, "declined") => "refusées",
        (Lang::Fr, "closed") => "clôturées",
        (Lang::Fr, "withdrawn") => "consentement retiré",
        (Lang::En, "acknowledged") => "opened",
        (Lang::En, "withdrawn") => "consent withdrawn",
        _ => code,
    };
    s.to_owned()
}

/// The label of a legal basis.
pub fn basis(lang: Lang, code: &str) -> String {
    let s = match (lang, code) {
        (Lang::Fr, "consent") => "consentement",
        (Lang::Fr, "legal_exception_226_14") => "signalement art. 226-14 3° C. pén.",
        (Lang::En, "legal_exception_226_14") => "report, criminal code art. 226-14 3°",
        _ => code,
    };
    s.to_owned()
}

/// A time as the pages show it: `2026-11-29 17:03 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A delay in seconds, in words: `2 j 3 h`, `1 h 05 min`, `12 min`, `40 s`.
pub fn delay(lang: Lang, seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    let day = lang.console().unit_day;
    if d > 0 {
        format!("{d} {day} {h} h")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

/// Français.
pub static FR: ConsoleTexts = ConsoleTexts {
    nav_label: "Outils",
    nav_audit: "Journal d’audit",
    nav_verify: "Vérifier le journal",
    nav_admin: "Organisations et clés",
    nav_users: "Comptes",
    nav_tokens: "Jetons d’API",
    nav_coordination: "Tableau de bord",
    forbidden_title: "Accès refusé",
    forbidden_role: "Cette page n’est pas accessible avec votre rôle. Si vous pensez en avoir besoin, adressez-vous à l’administration de Passerelle.",
    not_found_title: "Introuvable",
    not_found: "Cet élément n’existe pas (ou plus). Vérifiez l’identifiant.",
    back_home: "Retour à l’accueil",
    bad_request: "La demande n’a pas pu être comprise. Vérifiez les champs et recommencez.",
    audit_title: "Journal d’audit",
    audit_intro: "Chaque accès et chaque action sont inscrits dans un journal signé. Cette console montre les identifiants et les métadonnées, jamais le contenu des orientations. Chaque consultation est elle-même journalisée.",
    search_label: "Rechercher dans le journal",
    f_case: "Dossier (identifiant)",
    f_case_hint: "L’identifiant du dossier, par exemple 0d3c…-…; laissez vide pour tous.",
    f_actor: "Personne (identifiant de compte)",
    f_org: "Organisation (identifiant court)",
    f_action: "Action",
    any_action: "Toutes les actions",
    f_since: "Du",
    f_until: "Au (inclus)",
    dates_hint: "Dates en temps universel (UTC).",
    search_button: "Rechercher",
    results: "Évènements",
    no_events: "Aucun évènement ne correspond à la recherche.",
    next_page: "Page suivante",
    first_page: "Première page",
    col_seq: "N°",
    col_at: "Date",
    col_actor: "Personne",
    col_org: "Organisation",
    col_role: "Rôle",
    col_action: "Action",
    col_target: "Objet",
    col_case: "Dossier",
    col_outcome: "Résultat",
    col_basis: "Base légale",
    allowed: "autorisé",
    denied: "refusé",
    unreadable: "illisible (lancez la vérification)",
    system: "système",
    report_link: "Rapport d’accès de ce dossier",
    err_case: "L’identifiant de dossier n’est pas valide (format attendu : 8-4-4-4-12 caractères hexadécimaux).",
    err_actor: "L’identifiant de compte n’est pas valide.",
    err_org: "L’identifiant d’organisation n’est pas valide.",
    err_action: "Cette action n’existe pas dans le journal.",
    err_date: "Une date n’est pas valide : utilisez le format AAAA-MM-JJ.",
    err_cursor: "Le lien de page n’est plus valide : relancez la recherche.",
    export_title: "Exporter le journal",
    export_hint: "Télécharge tout le journal (format JSON Lines) avec son point de contrôle signé : il se vérifie hors ligne avec la seule clé publique. L’export est lui-même journalisé.",
    export_button: "Télécharger l’export",
    verify_title: "Vérification du journal",
    verify_ok: "Le journal est intact : chaque entrée est incluse dans la tête signée.",
    verify_bad: "Le journal N’EST PAS intact. Prévenez immédiatement l’administration et conservez un export.",
    verify_size: "Nombre d’entrées (taille de la tête signée)",
    verify_root: "Racine (SHA-256, hexadécimal)",
    verify_folder: "Taille du dernier point de contrôle du dossier de contrôle",
    verify_first_bad: "Première entrée en défaut",
    verify_problem: "Problème",
    verify_checkpoint: "Point de contrôle signé",
    verify_empty: "Le journal est vide.",
    none: "aucun",
    report_title: "Rapport d’accès du dossier",
    report_intro: "Qui a lu quoi dans ce dossier, quand, et sur quelle base légale, y compris les accès refusés (droit d’accès, RGPD art. 15). Identifiants et métadonnées seulement.",
    report_print: "Pour l’imprimer ou l’enregistrer en PDF, utilisez la commande Imprimer du navigateur (Ctrl+P) : menus et formulaires ne sont pas imprimés.",
    report_generated: "Établi le",
    report_empty: "Aucun accès au contenu de ce dossier n’est inscrit au journal.",
    admin_title: "Organisations et clés",
    orgs_title: "Organisations",
    col_slug: "Identifiant court",
    col_name: "Nom",
    col_kind: "Type",
    col_created: "Créée le",
    org_new: "Ajouter une organisation",
    slug_hint: "Lettres minuscules, chiffres et tirets, par exemple « avec63 ». Il ne peut plus changer.",
    org_create: "Créer l’organisation",
    org_created: "L’organisation a été créée avec sa première clé.",
    err_slug: "L’identifiant court n’est pas valide : lettres minuscules, chiffres et tirets seulement.",
    err_slug_taken: "Cet identifiant court est déjà pris.",
    err_name: "Le nom doit comporter de 1 à 200 caractères.",
    err_kind: "Choisissez le type d’organisation.",
    keys_title: "État des clés",
    keys_intro: "Versions et nombres seulement : aucune clé n’est jamais affichée.",
    keys_current: "Version actuelle de la clé maître",
    keys_master: "Versions de la clé maître",
    col_version: "Version",
    col_wrapped: "Identités d’organisation chiffrées",
    keys_missing: "Versions absentes du dossier des clés",
    keys_escrow: "Séquestre de secours",
    yes: "oui",
    no: "non",
    keys_orgs: "Identités des organisations",
    col_state: "État",
    col_kek: "Version de clé maître",
    col_wraps: "Clés d’orientation chiffrées",
    keys_pending: "Rotation inachevée (relancez la commande de rotation) :",
    users_title: "Comptes",
    col_username: "Compte",
    col_account: "État",
    col_manage: "Gérer",
    health_professional: "professionnel·le de santé",
    enrolled: "actif",
    not_enrolled: "en attente d’activation",
    disabled: "désactivé",
    reset_button: "Nouveau lien d’activation",
    disable_button: "Désactiver",
    reset_hint: "Un nouveau lien d’activation efface le mot de passe et l’application d’authentification du compte et ferme ses sessions. Désactiver un compte est définitif : il n’est jamais supprimé, ses jetons sont révoqués.",
    invite_title: "Inviter une personne",
    invite_hint: "Le compte est créé sans mot de passe ; un lien d’activation à usage unique, valable 72 heures, s’affiche une seule fois.",
    invite_button: "Créer le compte et le lien",
    username_hint: "Lettres minuscules, chiffres, points et tirets, par exemple « c.martin ».",
    err_username: "L’identifiant de compte n’est pas valide : lettres minuscules, chiffres, points et tirets.",
    err_username_taken: "Cet identifiant de compte est déjà pris.",
    err_role: "Vous ne pouvez pas donner ce rôle.",
    err_org_unknown: "Cette organisation n’existe pas.",
    err_user_disabled: "Ce compte est désactivé.",
    user_disabled: "Le compte a été désactivé : ses sessions sont fermées et ses jetons révoqués.",
    user_already_disabled: "Ce compte était déjà désactivé.",
    link_title: "Lien d’activation",
    link_for: "Lien d’activation du compte",
    link_once: "Ce lien ne s’affiche qu’une fois. Transmettez-le à la personne par un moyen sûr (en main propre, messagerie professionnelle). Il ne sert qu’une fois.",
    expires: "Valable jusqu’au",
    back_users: "Retour aux comptes",
    back_dashboard: "Retour au tableau de bord",
    tokens_title: "Jetons d’API",
    tokens_intro: "Les jetons permettent à un logiciel d’appeler l’API au nom d’un compte. Un jeton ne s’affiche qu’une fois, à sa création ; seul son identifiant est conservé en clair.",
    tokens_show: "Afficher les jetons",
    tokens_of: "Jetons du compte",
    tokens_none: "Ce compte n’a aucun jeton.",
    col_id: "Identifiant",
    col_expires: "Expire le",
    active: "actif",
    expired: "expiré",
    revoked: "révoqué",
    revoke_button: "Révoquer",
    token_revoked: "Le jeton a été révoqué sur toutes les instances.",
    issue_title: "Créer un jeton",
    ttl_label: "Durée de validité (jours)",
    ttl_hint: "De 1 à 90 jours.",
    issue_button: "Créer le jeton",
    err_ttl: "La durée doit être un nombre de jours entre 1 et 90.",
    err_user_unknown: "Ce compte n’existe pas.",
    token_title: "Nouveau jeton d’API",
    token_once: "Copiez ce jeton maintenant : il ne s’affichera plus jamais. Conservez-le comme un mot de passe.",
    dash_title: "Tableau de bord",
    dash_intro: "Nombres et délais des orientations de votre organisation. Aucun contenu, aucun identifiant de dossier.",
    received: "Orientations reçues",
    sent: "Orientations envoyées",
    total: "Total",
    overdue: "En retard (envoyées ou ouvertes après l’échéance)",
    answered: "Orientations ayant reçu une première réponse",
    median: "Délai médian de première réponse",
    p90: "Délai de première réponse (9 sur 10 en moins de)",
    delay_hint: "Première réponse : ouverture, acceptation ou refus par l’organisation destinataire.",
    col_figure: "Indicateur",
    col_count: "Nombre",
    computed_at: "Calculé le",
    dash_users: "Comptes de l’organisation",
    unit_day: "j",
};

/// English.
pub static EN: ConsoleTexts = ConsoleTexts {
    nav_label: "Tools",
    nav_audit: "Audit log",
    nav_verify: "Verify the log",
    nav_admin: "Organisations and keys",
    nav_users: "Accounts",
    nav_tokens: "API tokens",
    nav_coordination: "Dashboard",
    forbidden_title: "Access refused",
    forbidden_role: "This page is not available to your role. If you think you need it, ask the Passerelle administrators.",
    not_found_title: "Not found",
    not_found: "This item does not exist (any more). Check the identifier.",
    back_home: "Back to the home page",
    bad_request: "The request could not be understood. Check the fields and try again.",
    audit_title: "Audit log",
    audit_intro: "Every access and every action is written to a signed log. This console shows identifiers and metadata, never the content of referrals. Every consultation is itself logged.",
    search_label: "Search the log",
    f_case: "Case (identifier)",
    f_case_hint: "The case identifier, e.g. 0d3c…-…; leave empty for all.",
    f_actor: "Person (account name)",
    f_org: "Organisation (short identifier)",
    f_action: "Action",
    any_action: "Every action",
    f_since: "From",
    f_until: "To (included)",
    dates_hint: "Dates in universal time (UTC).",
    search_button: "Search",
    results: "Events",
    no_events: "No event matches the search.",
    next_page: "Next page",
    first_page: "First page",
    col_seq: "No.",
    col_at: "Date",
    col_actor: "Person",
    col_org: "Organisation",
    col_role: "Role",
    col_action: "Action",
    col_target: "Object",
    col_case: "Case",
    col_outcome: "Outcome",
    col_basis: "Legal basis",
    allowed: "allowed",
    denied: "refused",
    unreadable: "unreadable (run the verification)",
    system: "system",
    report_link: "Access report of this case",
    err_case: "The case identifier is not valid (expected: 8-4-4-4-12 hexadecimal characters).",
    err_actor: "The account name is not valid.",
    err_org: "The organisation identifier is not valid.",
    err_action: "This action does not exist in the log.",
    err_date: "A date is not valid: use the YYYY-MM-DD format.",
    err_cursor: "The page link is no longer valid: search again.",
    export_title: "Export the log",
    export_hint: "Downloads the whole log (JSON Lines) with its signed checkpoint: it verifies offline with the public key alone. The export itself is logged.",
    export_button: "Download the export",
    verify_title: "Log verification",
    verify_ok: "The log is intact: every entry is included in the signed head.",
    verify_bad: "The log is NOT intact. Warn the administrators at once and keep an export.",
    verify_size: "Entries (size of the signed head)",
    verify_root: "Root (SHA-256, hexadecimal)",
    verify_folder: "Size of the checkpoint folder's latest checkpoint",
    verify_first_bad: "First bad entry",
    verify_problem: "Problem",
    verify_checkpoint: "Signed checkpoint",
    verify_empty: "The log is empty.",
    none: "none",
    report_title: "Access report of case",
    report_intro: "Who read what of this case, when, and under which legal basis, refused accesses included (right of access, GDPR art. 15). Identifiers and metadata only.",
    report_print: "To print it or save it as PDF, use the browser's Print command (Ctrl+P): menus and forms are not printed.",
    report_generated: "Produced on",
    report_empty: "No access to this case's content is in the log.",
    admin_title: "Organisations and keys",
    orgs_title: "Organisations",
    col_slug: "Short identifier",
    col_name: "Name",
    col_kind: "Kind",
    col_created: "Created on",
    org_new: "Add an organisation",
    slug_hint: "Lower-case letters, digits and hyphens, e.g. “avec63”. It cannot change later.",
    org_create: "Create the organisation",
    org_created: "The organisation was created with its first key.",
    err_slug: "The short identifier is not valid: lower-case letters, digits and hyphens only.",
    err_slug_taken: "This short identifier is taken.",
    err_name: "The name must have 1 to 200 characters.",
    err_kind: "Choose the kind of organisation.",
    keys_title: "Key status",
    keys_intro: "Versions and counts only: no key is ever shown.",
    keys_current: "Current master key version",
    keys_master: "Master key versions",
    col_version: "Version",
    col_wrapped: "Organisation identities wrapped",
    keys_missing: "Versions missing from the keys folder",
    keys_escrow: "Escrow recipient",
    yes: "yes",
    no: "no",
    keys_orgs: "Organisation identities",
    col_state: "State",
    col_kek: "Master key version",
    col_wraps: "Referral key wraps",
    keys_pending: "Unfinished rotation (run the rotation command again):",
    users_title: "Accounts",
    col_username: "Account",
    col_account: "State",
    col_manage: "Manage",
    health_professional: "health professional",
    enrolled: "active",
    not_enrolled: "waiting for activation",
    disabled: "disabled",
    reset_button: "New activation link",
    disable_button: "Disable",
    reset_hint: "A new activation link erases the account's password and authenticator and ends its sessions. Disabling an account is final: it is never deleted, its tokens are revoked.",
    invite_title: "Invite someone",
    invite_hint: "The account is created without a password; a one-time activation link, valid 72 hours, is shown once.",
    invite_button: "Create the account and the link",
    username_hint: "Lower-case letters, digits, dots and hyphens, e.g. “c.martin”.",
    err_username: "The account name is not valid: lower-case letters, digits, dots and hyphens.",
    err_username_taken: "This account name is taken.",
    err_role: "You cannot give this role.",
    err_org_unknown: "This organisation does not exist.",
    err_user_disabled: "This account is disabled.",
    user_disabled: "The account was disabled: its sessions are ended and its tokens revoked.",
    user_already_disabled: "This account was already disabled.",
    link_title: "Activation link",
    link_for: "Activation link of account",
    link_once: "This link is shown once. Hand it to the person by a safe channel (in person, work e-mail). It works once.",
    expires: "Valid until",
    back_users: "Back to the accounts",
    back_dashboard: "Back to the dashboard",
    tokens_title: "API tokens",
    tokens_intro: "Tokens let a program call the API on behalf of an account. A token is shown once, when created; only its identifier is kept in clear.",
    tokens_show: "Show the tokens",
    tokens_of: "Tokens of account",
    tokens_none: "This account has no token.",
    col_id: "Identifier",
    col_expires: "Expires on",
    active: "active",
    expired: "expired",
    revoked: "revoked",
    revoke_button: "Revoke",
    token_revoked: "The token was revoked on every instance.",
    issue_title: "Create a token",
    ttl_label: "Lifetime (days)",
    ttl_hint: "From 1 to 90 days.",
    issue_button: "Create the token",
    err_ttl: "The lifetime must be a number of days from 1 to 90.",
    err_user_unknown: "This account does not exist.",
    token_title: "New API token",
    token_once: "Copy this token now: it will never be shown again. Keep it like a password.",
    dash_title: "Dashboard",
    dash_intro: "Counts and delays of your organisation's referrals. No content, no case identifier.",
    received: "Referrals received",
    sent: "Referrals sent",
    total: "Total",
    overdue: "Overdue (sent or opened past their due time)",
    answered: "Referrals with a first answer",
    median: "Median delay of the first answer",
    p90: "Delay of the first answer (9 in 10 within)",
    delay_hint: "First answer: opened, accepted or declined by the receiving organisation.",
    col_figure: "Figure",
    col_count: "Count",
    computed_at: "Computed on",
    dash_users: "Accounts of the organisation",
    unit_day: "d",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_as_words() {
        assert_eq!(delay(Lang::Fr, 40), "40 s");
        assert_eq!(delay(Lang::Fr, 600), "10 min");
        assert_eq!(delay(Lang::Fr, 3900), "1 h 05 min");
        assert_eq!(delay(Lang::Fr, 2 * 86_400 + 3 * 3600), "2 j 3 h");
        assert_eq!(delay(Lang::En, 2 * 86_400), "2 d 0 h");
        assert_eq!(delay(Lang::En, -5), "0 s");
    }

    #[test]
    fn times_show_in_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_005).unwrap();
        assert_eq!(when(t), "2027-01-15 08:00 UTC");
    }
}
