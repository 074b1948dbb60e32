//! The fields of SPEC §4: their names in the mapping and in the payload, in payload order.

/// A field read from the CSV. The order of `Field::ALL` is the order of the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    AccountToken,
    EventName,
    EventTime,
    VisitorId,
    CustomerId,
    Email,
    Phone,
    OrderId,
    Revenue,
    Currency,
    Quantity,
    PageUrl,
    Referrer,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    UtmTerm,
    UtmContent,
    Gclid,
    Ip,
    UserAgent,
}

impl Field {
    pub const COUNT: usize = 21;

    pub const ALL: [Field; Field::COUNT] = [
        Field::AccountToken,
        Field::EventName,
        Field::EventTime,
        Field::VisitorId,
        Field::CustomerId,
        Field::Email,
        Field::Phone,
        Field::OrderId,
        Field::Revenue,
        Field::Currency,
        Field::Quantity,
        Field::PageUrl,
        Field::Referrer,
        Field::UtmSource,
        Field::UtmMedium,
        Field::UtmCampaign,
        Field::UtmTerm,
        Field::UtmContent,
        Field::Gclid,
        Field::Ip,
        Field::UserAgent,
    ];

    /// The identifiers: a row needs at least one of them.
    pub const IDENTIFIERS: [Field; 4] = [Field::VisitorId, Field::CustomerId, Field::Email, Field::Phone];

    /// The name used in the mapping and as the default header.
    pub fn name(self) -> &'static str {
        match self {
            Field::AccountToken => "account_token",
            Field::EventName => "event_name",
            Field::EventTime => "event_time",
            Field::VisitorId => "visitor_id",
            Field::CustomerId => "customer_id",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::OrderId => "order_id",
            Field::Revenue => "revenue",
            Field::Currency => "currency",
            Field::Quantity => "quantity",
            Field::PageUrl => "page_url",
            Field::Referrer => "referrer",
            Field::UtmSource => "utm_source",
            Field::UtmMedium => "utm_medium",
            Field::UtmCampaign => "utm_campaign",
            Field::UtmTerm => "utm_term",
            Field::UtmContent => "utm_content",
            Field::Gclid => "gclid",
            Field::Ip => "ip",
            Field::UserAgent => "user_agent",
        }
    }

    /// The key in the payload: e-mail and phone travel only as hashes.
    pub fn payload_key(self) -> &'static str {
        match self {
            Field::Email => "email_sha256",
            Field::Phone => "phone_sha256",
            other => other.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn is_required(self) -> bool {
        matches!(self, Field::AccountToken | Field::EventName | Field::EventTime)
    }

    /// Fields whose raw value is personal data: never echoed in a message.
    pub fn is_personal(self) -> bool {
        matches!(self, Field::Email | Field::Phone)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `token` has an account token's shape: 8 to 64 letters, digits, `-` or `_`. The
/// mapping's token, a cell's and the database's accounts are all checked by it.
pub fn is_token(token: &str) -> bool {
    (8..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Items listed in a message: past this, "and N more".
pub const LISTED: usize = 50;

/// `a, b, c` for a message, the first `LISTED` items only, then how many more there are.
pub fn capped_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut text = String::new();
    let mut more = 0usize;
    for (index, item) in items.into_iter().enumerate() {
        if index >= LISTED {
            more += 1;
        } else {
            if index > 0 {
                text.push_str(", ");
            }
            text.push_str(&item.to_string());
        }
    }
    if more > 0 {
        text.push_str(&format!(", and {more} more"));
    }
    text
}

/// The closest of `candidates` to `wanted`, when it is close enough to be a likely typo.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = wanted.trim().to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(&wanted, &candidate.trim().to_lowercase()), candidate))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_payload_order() {
        for (index, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(field.index(), index);
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
        assert_eq!(Field::from_name("email_sha256"), None);
        assert_eq!(Field::Email.payload_key(), "email_sha256");
    }

    #[test]
    fn lists_are_capped() {
        assert_eq!(capped_list(["a", "b"]), "a, b");
        assert_eq!(capped_list(0..LISTED), capped_list(0..LISTED).replace(", and", "!"));
        assert!(capped_list(0..200_000).ends_with(", 49, and 199950 more"));
        assert_eq!(capped_list(Vec::<String>::new()), "");
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("evnt_name", ["event_name", "event_time"]), Some("event_name"));
        assert_eq!(closest("zzz", ["event_name", "event_time"]), None);
    }
}
