package main

import (
	"fmt"

	"github.com/portcullis-idp/portcullis/idp/secrets"
	"github.com/portcullis-idp/portcullis/idp/signing"
	"github.com/spf13/cobra"
)

func newKeysCmd(c *cli) *cobra.Command {
	return group("keys", "Manage the ID-token signing keys",
		newKeysRotateCmd(c),
	)
}

func newKeysRotateCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Start signing with a new key",
		Long: `Generate a new signing key (signing.alg, signing.rsa_bits) and make it the
active one. The previous keys are retired but stay published in the JWKS
until every token they signed has expired, so relying apps keep verifying
them. Running servers pick the new key up within about ten seconds.

The new key is encrypted with the secrets key, which must be the one the
servers use; rotate checks that it can decrypt the current key first.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadConfig(cmd)
			if err != nil {
				return err
			}
			key, err := masterKey(&cfg)
			if err != nil {
				return err
			}
			cipher, err := secrets.AtRestCipher(key)
			if err != nil {
				return err
			}
			st, err := openExistingStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			if err := signing.CheckCipher(ctx, st, cipher); err != nil {
				return err
			}
			k, err := signing.Generate(cipher, cfg.Signing.Alg, cfg.Signing.RSABits)
			if err != nil {
				return err
			}
			if err := st.RotateSigningKeys(ctx, k); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "new signing key %s (%s) is active; previous keys stay published until their tokens expire\n", k.KID, k.Alg)
			fmt.Fprintln(c.stderr, "portcullis: running servers switch to the new key within about 10 seconds.")
			return nil
		},
	}
}
