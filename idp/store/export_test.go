package store

// Models lists every gorm model of the package, unexported ones included,
// for TestModelsMatchSchema. A new table needs its model added here.
func Models() []any {
	return []any{
		&Tenant{},
		&User{},
		&Client{},
		&consentRow{},
		&BrowserSession{},
		&sessionClientRow{},
		&AuthRequest{},
		&tokenRow{},
		&jtiRow{},
		&SigningKey{},
		&settingRow{},
		&AuditEvent{},
		&mfaAuthenticatorRow{},
		&mfaRecoveryKeyRow{},
		&mfaAttemptsRow{},
		&LogoutDelivery{},
		&SignInCounter{},
		&WebAuthnCredential{},
		&PasswordLink{},
	}
}
