//! Links the engines' system libraries (Debian: libespeak-ng-dev, flite1-dev).

fn main() {
    println!("cargo:rustc-link-lib=espeak-ng");
    // flite's voice libraries are opened at first use (src/flite.rs), not linked; they bring
    // the English front end (flite_usenglish, flite_cmulex) with them.
    println!("cargo:rustc-link-lib=flite");
    println!("cargo:rerun-if-changed=build.rs");
}
