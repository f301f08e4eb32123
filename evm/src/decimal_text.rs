//! Wei and token amounts in messages: `U256` as decimal text, exact (JSON numbers lose
//! precision past 2^53 in most readers), read without copying the text.

/// `U256` as a decimal string; reads a decimal string or a JSON number.
pub(crate) mod decimal {
    use alloy_primitives::U256;
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// A decimal string or a whole JSON number; floats are refused (wei is exact). Parsed from
    /// the borrowed text: the sink parses millions of these.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        d.deserialize_any(Wei)
    }

    struct Wei;

    impl<'de> Visitor<'de> for Wei {
        type Value = U256;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a decimal wei amount (a string of digits or a whole number)")
        }

        fn visit_str<E: de::Error>(self, t: &str) -> Result<U256, E> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::custom(format!("{t:?} is not a decimal wei amount")));
            }
            // Nearly every amount fits in 128 bits, which parse without U256's general path.
            if let Ok(small) = t.parse::<u128>() {
                return Ok(U256::from(small));
            }
            U256::from_str_radix(t, 10).map_err(|e| E::custom(format!("{t:?} is not a decimal wei amount: {e}")))
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<U256, E> {
            Ok(U256::from(n))
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<U256, E> {
            u64::try_from(n)
                .map(U256::from)
                .map_err(|_| E::custom(format!("{n} is not a wei amount (negative)")))
        }

        fn visit_f64<E: de::Error>(self, n: f64) -> Result<U256, E> {
            Err(E::custom(format!("{n} is not a whole wei amount")))
        }
    }
}

pub(crate) mod decimal_opt {
    use alloy_primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<U256>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<U256>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::decimal")] U256);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}
