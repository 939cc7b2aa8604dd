import Foundation
import FuseboxCore

/// The history as CSV (RFC 4180): the one writer of `fusebox history export`
/// and of the API's `sessions.csv`. A field holding a comma, a quote or a line
/// break is quoted, its quotes doubled; times are ISO 8601 in UTC.
public enum HistoryCSV {
    public static let sessionsHeader = "id,charger,start,end,energy_kwh,peak_power_w\n"

    public static func sessions(_ sessions: [ChargingSession]) -> String {
        var out = sessionsHeader
        for s in sessions {
            out += row([String(s.id), s.charger, time(s.start), s.end.map(time) ?? "", number(s.energy), number(s.peakPower)])
        }
        return out
    }

    public static func samples(_ points: [SamplePoint]) -> String {
        var out = "time,i1,i2,i3,peak1,peak2,peak3,ev1,ev2,ev3,pv_w,budget1,budget2,budget3,limit1,limit2,limit3\n"
        for p in points {
            out += row([time(p.time)] + [p.current, p.peak, p.ev].flatMap(\.array).map(number) + [number(p.pvPower)]
                + [p.budget, p.limit].flatMap(\.array).map(number))
        }
        return out
    }

    public static let chargerSamplesHeader = "time,charger,current,setpoint,energy_kwh\n"

    /// One charger's points, without the header (a file holds every charger's).
    public static func chargerSamples(_ charger: String, _ points: [ChargerPoint]) -> String {
        points.map { row([time($0.time), charger, number($0.current), number($0.setpoint), number($0.energy)]) }.joined()
    }

    public static func events(_ events: [SiteEvent]) -> String {
        var out = "time,kind,subject,message\n"
        for e in events { out += row([time(e.time), e.kind.rawValue, e.subject ?? "", e.message]) }
        return out
    }

    /// One line: the fields, each quoted when it must be.
    public static func row(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\n"
    }

    public static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func time(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    /// Whole numbers as integers, others to the thousandth.
    public static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e12 ? String(Int(v)) : String(format: "%.3f", v)
    }
}
