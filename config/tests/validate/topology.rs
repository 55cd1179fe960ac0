//! `[[geographies]]` and `[[regions]]`: country and continent codes (each in one geography
//! only) and region locations.

use crate::{error_at, errors, line_of, BASE};

#[test]
fn geography_countries_and_continents_are_checked_and_unique() {
    let text = format!(
        "{}{}",
        BASE.replace(
            "name = \"eu\"\n",
            "name = \"eu\"\ncountries = [\"DE\", \"de\", \"ZZ\", \"EU\"]\n\
             continents = [\"EU\", \"Europe\"]\n",
        ),
        r#"
[[geographies]]
name = "na"
countries = ["US", "DE"]
continents = ["NA", "eu"]

[[geographies]]
name = "Bad Name"
countries = ["US"]

[[regions]]
name = "eastus"
geography = "na"
origins = [{ address = "127.0.0.1:9103" }]
"#
    );
    let errs = errors(&text);
    let msg = |key| error_at(&errs, key).message.clone();
    assert_eq!(
        msg("geographies[0].countries[1]"),
        "DE is listed twice (first at geographies[0].countries[0]); list it once"
    );
    assert!(msg("geographies[0].countries[2]").contains("not an assigned ISO 3166-1 alpha-2"));
    assert!(msg("geographies[0].countries[3]").contains("EU is a continent: use continents"));
    assert!(msg("geographies[0].continents[1]").contains("use one of AF, AN, AS, EU, NA, OC, SA"));
    assert_eq!(
        msg("geographies[1].countries[1]"),
        "country DE is already in geography \"eu\" (geographies[0].countries[0]); a country can \
         belong to one geography only, so that its clients route to exactly one"
    );
    assert!(msg("geographies[1].continents[1]")
        .starts_with("continent EU is already in geography \"eu\" (geographies[0].continents[0])"));
    // Checked even though the geography's name is wrong.
    assert!(msg("geographies[2].countries[0]")
        .starts_with("country US is already in geography \"na\" (geographies[1].countries[0])"));
    assert!(msg("geographies[2].name").contains("not a valid geography name"));
    let e = error_at(&errs, "geographies[1].countries[1]");
    assert_eq!(e.line, Some(line_of(&text, "countries = [\"US\", \"DE\"]")));
    assert_eq!(errs.len(), 8, "{errs:#?}");

    let errs = errors(&BASE.replace("name = \"eu\"\n", "name = \"eu\"\ncountries = \"DE\"\n"));
    assert!(error_at(&errs, "geographies[0].countries")
        .message
        .contains("expected an array"));
}

#[test]
fn region_locations_are_checked() {
    let text = format!(
        "{}{}",
        BASE.replace(
            "geography = \"eu\"\norigins",
            "geography = \"eu\"\nlocation = { lat = 90.5, lon = -181 }\norigins"
        ),
        r#"
[[regions]]
name = "westeurope"
geography = "eu"
location = { lat = 52.37 }
origins = [{ address = "127.0.0.1:9102" }]

[[regions]]
name = "uksouth"
geography = "eu"
location = { lat = nan, lon = 0, alt = 10 }
origins = [{ address = "127.0.0.1:9103" }]

[[regions]]
name = "ukwest"
geography = "eu"
location = { lat = "north", lon = 0 }
origins = [{ address = "127.0.0.1:9104" }]
"#
    );
    let errs = errors(&text);
    let msg = |key| error_at(&errs, key).message.clone();
    assert_eq!(
        msg("regions[0].location.lat"),
        "90.5 is out of range: latitude is -90 to 90 degrees (negative: south)"
    );
    assert_eq!(
        msg("regions[0].location.lon"),
        "-181 is out of range: longitude is -180 to 180 degrees (negative: west)"
    );
    assert!(msg("regions[1].location").starts_with("location needs both lat and lon"));
    assert!(msg("regions[2].location.alt").contains("unknown key `alt`, expected `lat` or `lon`"));
    assert!(msg("regions[2].location.lat").contains("NaN is out of range"));
    // A mistyped coordinate is reported, and then (being dropped) as missing.
    let mistyped: Vec<_> = errs
        .iter()
        .filter(|e| e.key.starts_with("regions[3]"))
        .collect();
    assert_eq!(mistyped.len(), 2, "{mistyped:#?}");
    assert!(mistyped.iter().any(|e| e.key == "regions[3].location.lat"
        && e.message
            .contains("expected a number of degrees such as 53.35")));
    assert_eq!(
        error_at(&errs, "regions[0].location.lat").line,
        Some(line_of(&text, "location = { lat = 90.5"))
    );
    assert_eq!(errs.len(), 7, "{errs:#?}");
}
