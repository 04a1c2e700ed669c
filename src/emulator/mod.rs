//! A Microsoft Graph and token endpoint emulator.
