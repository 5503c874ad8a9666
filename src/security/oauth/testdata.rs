//! Keys for the OAUTHBEARER tests (made with openssl for them; they protect nothing): an
//! RSA-2048 key (PKCS#1 DER) and an EC P-256 key (PKCS#8 DER), base64, and their public halves
//! as JWK parameters. tests/it includes this file too.

pub const RSA_PKCS1_DER_B64: &str = "MIIEowIBAAKCAQEAsq2Y3L19+VEAfEl88dEFMPtHiUpdGGSYkHHdSwXCuPZCldQibELPAzWyCkwpI4AFK0gk98/7ko0bu/250gthcu5SQz2stP2dx+78AMjubS0zp9opkt4U9dF0CRMJ1CC2h6aRE280BkXv8NP4P8QhVHNfNXjvPlUQyqZ7nvOWRQFpmLQC5mXQyVFwfoRGh6CQZ1GccGLmy9mXpL6f/Mc4Lt+VYfdi+5T17KZKrApd7JPR9QcBk5+wmIO+JH11c/k0cBWBgLHV/PNxfSCpBLNxvKR49CkEprt0sNH5Len62lWQlCE2w6aqEBqJOj+nbTT1GYGkVOStDkcrt3X03p5pzQIDAQABAoIBAErh6jCI0eTNB9EO02hc2zod9WsaWU3ByxauQboRXfw6aMl2MD8C+NM1i7o5FPylyITNJYEeDybqMHdm7JuU3XBXZO59SIZJy/hgtgh2LUZgLUfpbIb6v/oNn/21lubqFtVe/2oPrtP6N4bMrzu6LOXBvGMindGXwQPNJf4FxDKCo8QY8vKK5uojPzonsXbqz9iQehAxgL8/vu+gO82psHanBCuvTyKTA0q47fb6SjcR7H0cFpg5a07qR/1iuobQzzKqMgZCYrCAyYUN3OUYCKeTs4xzxA0R0bTyR3ZmqSdJ7tkM1alA3L/6bEsqn5mIm6WFP327bPjg1+ESlfOIs1kCgYEA1ndnWAaIpyE+vs2wfzT1oL/SR2GpBsK5jZY33RtZ2ywE8XmeH9EHoDqOslsWfc0ISGWkanGONYGJKfGbrSHAgPTtRZWRTgwvlr3Cp4uiz6WiSl+v7Zo2QEeqMreiOY/zxzcw31ga9lE6Lw8S7aVi7shlOsva+oso9QCmPcEIlYsCgYEA1Ufq3ahtIk1dAQPFq7WmavjJ7bkS3A7cr9IGVBjCVDDPPihBcysg6yncKQwuyg7XWvdN+dXhptszQilslf59xEgfha11Q+RHwnWg1cTZ/4E0TDfVHfnEug+td2EtYcE1rh55m96wDXB6pKTpespVxRcJBBSiLQ6JmUoqfRDPWQcCgYEAjgpk8qLZLL/S+7HlHErqB34j+czPkr+y/vgnpZQwzfz4hSnENVRO1asSyUOUwNrjindvDmSJCBzzyEjRjzgUdBRDdVua8fMWLaMeYbMUsKwFsXZwYVBKcAZGzfJbSf5yOVXvU2zZ5ptjirlUEvr/bCBjEy7iqB80kBfPAoVvdwMCgYAuvgs4NwBsAx596XC5+B6X1RyUL/p1JgCxu8rNRXvZbbUNv07QycP2Jf9tM5FRkT0bX5XESl6g7etm9aMpoFO538Cg0Gohzfb4JEVydCj+uTdX+OiJIENAL81pm2+RvAFivqUSRxS4bU1DpizRT2TKxAiiz07Xpxb69GkpbbSzowKBgAILZa9HmT475jEPMOju/Dg6OpgFg+Bydq4eviqhqiesnXOdg6nEI4yA7TpcDgrVUmdGlZYGCf+cHLWcffwNhKq6vpX2Qjuk1JH2PY0LttaAuwMZ1glcwnKWL68185LELxKvMW4hG8lJupXw1bw76tQxDA7Z1+UnQ+02BWOTPzS4";
pub const RSA_N: &str = "sq2Y3L19-VEAfEl88dEFMPtHiUpdGGSYkHHdSwXCuPZCldQibELPAzWyCkwpI4AFK0gk98_7ko0bu_250gthcu5SQz2stP2dx-78AMjubS0zp9opkt4U9dF0CRMJ1CC2h6aRE280BkXv8NP4P8QhVHNfNXjvPlUQyqZ7nvOWRQFpmLQC5mXQyVFwfoRGh6CQZ1GccGLmy9mXpL6f_Mc4Lt-VYfdi-5T17KZKrApd7JPR9QcBk5-wmIO-JH11c_k0cBWBgLHV_PNxfSCpBLNxvKR49CkEprt0sNH5Len62lWQlCE2w6aqEBqJOj-nbTT1GYGkVOStDkcrt3X03p5pzQ";
pub const RSA_E: &str = "AQAB";
pub const EC_PKCS8_DER_B64: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAraJwOMQFmU9m+4xZ5I8HuP5xwtL6IM+kTDHiFZM7UihRANCAAQIEls6aA27/mnGV+7befuY6pmuDj9O6M5kKfweX5qoxNU7P0Fm3I5UHihB5F0BsUA8OGwwebl/AMFEAKSJjzf/";
pub const EC_X: &str = "CBJbOmgNu_5pxlfu23n7mOqZrg4_TujOZCn8Hl-aqMQ";
pub const EC_Y: &str = "1Ts_QWbcjlQeKEHkXQGxQDw4bDB5uX8AwUQApImPN_8";

/// A JWKS with the RSA key as `rsa-1` and the EC key as `ec-1`.
pub fn jwks() -> String {
    format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","n":"{RSA_N}","e":"{RSA_E}"}},{{"kty":"EC","kid":"ec-1","crv":"P-256","x":"{EC_X}","y":"{EC_Y}"}}]}}"#
    )
}
