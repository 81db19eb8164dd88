import Testing
@testable import PaymentKit
import Simulator
import SystemPay

@Suite struct FormURLEncodingTests {
    @Test func decodesPlusAsSpaceAndUTF8Escapes() throws {
        let fields = try #require(FormURLEncoding.decode("vads_cust_name=Jos%C3%A9+Garc%C3%ADa&empty=&vads_amount=1250"))
        #expect(fields.map(\.name) == ["vads_cust_name", "empty", "vads_amount"])
        #expect(fields[0].value == "José García")
        #expect(fields[1].value == "")
    }

    @Test func rejectsMalformedEscapes() {
        #expect(FormURLEncoding.decode("a=%G1") == nil)
        #expect(FormURLEncoding.decode("a=%C3") == nil)  // a lone UTF-8 lead byte
    }

    @Test func roundTrips() throws {
        let fields = [(name: "a b", value: "é+&="), (name: "x", value: "")]
        let decoded = try #require(FormURLEncoding.decode(FormURLEncoding.encode(fields)))
        #expect(decoded.map(\.name) == ["a b", "x"])
        #expect(decoded.map(\.value) == ["é+&=", ""])
    }

    @Test func constantTimeComparison() {
        #expect(constantTimeEquals("abc", "abc"))
        #expect(!constantTimeEquals("abc", "abd"))
        #expect(!constantTimeEquals("abc", "abcd"))
        #expect(!constantTimeEquals("", "a"))
    }
}

@Suite struct ProviderConfigurationTests {
    @Test func systemPayNeedsItsSiteAndTheKeyOfItsMode() {
        let ok = SystemPayProvider.validate(parameters: ["site_id": "12345678", "mode": "TEST", "test_key_env": "K"], environment: ["K": "secret"])
        #expect(ok.isEmpty)
        let problems = SystemPayProvider.validate(parameters: ["site_id": "123", "mode": "LIVE", "colour": "x"], environment: [:])
        #expect(Set(problems.map(\.parameter)) == ["site_id", "mode", "colour"])
        let missing = SystemPayProvider.validate(parameters: ["site_id": "12345678", "mode": "PRODUCTION", "production_key_env": "P"], environment: [:])
        #expect(missing.count == 1 && missing[0].isMissingSecret)
    }

    @Test func simulatorIsTestOnly() {
        #expect(SimulatorProvider.validate(parameters: ["mode": "TEST"], environment: [:]).isEmpty)
        #expect(SimulatorProvider.validate(parameters: ["mode": "PRODUCTION"], environment: [:]).map(\.parameter) == ["mode"])
    }

    @Test func registryIsKeyedByType() {
        var registry = PaymentProviderRegistry()
        registry.register(SystemPayProvider.self)
        registry.register(SimulatorProvider.self)
        #expect(registry["systempay"] != nil)
        #expect(registry["simulator"] != nil)
        #expect(registry["stripe"] == nil)
    }
}
