import FuseboxHistory
import Testing

@Suite("The history's CSV")
struct HistoryCSVTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var charger: String
        var field: String
        var testDescription: String { charger }
    }

    static let cases: [Case] = [
        Case(charger: "p01", field: "p01"),
        Case(charger: "level 2, bay 3", field: "\"level 2, bay 3\""),
        Case(charger: "the \"boss\"", field: "\"the \"\"boss\"\"\""),
        Case(charger: "two\nlines", field: "\"two\nlines\""),
        Case(charger: "cr\rhere", field: "\"cr\rhere\""),
        Case(charger: "", field: ""),
    ]

    @Test("a charger id with a comma, a quote or a line break is quoted, in the API's file and the command's", arguments: cases)
    func sessions(_ c: Case) {
        let session = ChargingSession(id: 7, charger: c.charger, start: 0, end: 3600.5, energy: 11.25, peakPower: 11040)
        let text = HistoryCSV.sessions([session])
        #expect(text == HistoryCSV.sessionsHeader
            + "7,\(c.field),1970-01-01T00:00:00.000Z,1970-01-01T01:00:00.500Z,11.250,11040\n")
    }
}
