/// Written into every manifest so a run can be traced to the code that made it.
public enum ConvEmergeVersion {
    public static let string = "0.1.0"
}
