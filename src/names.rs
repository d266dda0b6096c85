//! [`named_enum!`]: an enum of named settings with its `FromStr` (the CLI's
//! and the Python package's spelling, aliases accepted, a typed
//! [`Error::UnknownName`](crate::error::Error::UnknownName) listing the
//! choices otherwise), `Display` (the canonical name) and serde (kebab-case,
//! the same names), written once for every such enum.

/// `named_enum! { /// doc  pub enum Name, "what" { /// doc  Variant = "name" | "alias", … } }`
///
/// Attributes before `pub enum` (extra derives such as `Default`) and on the
/// variants (`#[default]`) are kept.
macro_rules! named_enum {
    (
        $(#[$m:meta])*
        $vis:vis enum $name:ident, $what:literal {
            $($(#[$vm:meta])* $variant:ident = $s:literal $(| $alias:literal)*),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "kebab-case")]
        $vis enum $name {
            $($(#[$vm])* $variant),+
        }

        impl std::str::FromStr for $name {
            type Err = crate::error::Error;
            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                match s {
                    $($s $(| $alias)* => Ok(Self::$variant),)+
                    _ => Err(crate::error::Error::UnknownName {
                        what: $what,
                        got: s.to_owned(),
                        expected: $crate::names::named_enum!(@join $($s),+),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self { $(Self::$variant => $s),+ })
            }
        }
    };
    (@join $first:literal $(, $rest:literal)*) => { concat!($first $(, ", ", $rest)*) };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    named_enum! {
        /// A test enum.
        #[derive(Default)]
        pub enum Shade, "shade" {
            /// Light.
            #[default]
            Light = "light",
            /// Very dark.
            VeryDark = "very-dark" | "very_dark",
        }
    }

    #[test]
    fn names_aliases_default_serde_and_the_error() {
        assert_eq!("very_dark".parse::<Shade>().unwrap(), Shade::VeryDark);
        assert_eq!(Shade::VeryDark.to_string(), "very-dark");
        assert_eq!(Shade::default(), Shade::Light);
        assert_eq!(
            serde_json::to_string(&Shade::VeryDark).unwrap(),
            "\"very-dark\""
        );
        let e = "grey".parse::<Shade>().unwrap_err().to_string();
        assert!(e.contains("grey") && e.contains("light, very-dark"), "{e}");
    }
}
